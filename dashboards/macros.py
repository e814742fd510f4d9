"""Expand a panel's SQL the way Grafana and the ClickHouse plugin would, so it can run on chDB.

Three passes, in Grafana's order: the plugin's `$__conditionalAll(cond, $var)` (frontend),
template variables (Grafana's templateSrv with the plugin's default formatter), then the
plugin's backend macros (`$__timeFilter(col)`, `$__fromTime`, ...; all UTC, as in
grafana/clickhouse-datasource pkg/macros). Anything left starting with `$` is an error, so a
typo in a panel fails a test instead of reaching a user.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping, Sequence

ALL = "$__all"


class MacroError(ValueError):
    """A macro or variable the expander cannot resolve (unknown name, bad arguments)."""


@dataclass(frozen=True)
class Selection:
    """A template variable's value: the chosen values, or All (which expands to every option)."""

    values: tuple[str, ...]
    is_all: bool = False
    multi: bool = True

    @classmethod
    def all_of(cls, options: Sequence[str]) -> Selection:
        return cls(tuple(options), is_all=True)

    @classmethod
    def one(cls, value: str, multi: bool = True) -> Selection:
        return cls((value,), multi=multi)


VarValue = Selection | str | Sequence[str]


def expand(sql: str, *, time_from: datetime, time_to: datetime, variables: Mapping[str, VarValue] | None = None,
           scoped: Mapping[str, VarValue] | None = None, interval_seconds: float | None = None) -> str:
    """`scoped` are a repeated row's values: they win over `variables` but not for conditionalAll."""
    if time_from.tzinfo is None or time_to.tzinfo is None:
        raise MacroError("time_from and time_to must be timezone-aware")
    dashboard_vars = {k: _selection(v) for k, v in (variables or {}).items()}
    values = dict(dashboard_vars)
    values.update({k: _selection(v) for k, v in (scoped or {}).items()})
    sql = conditional_all(sql, dashboard_vars)
    sql = interpolate(sql, values)
    if interval_seconds is None:
        interval_seconds = max((time_to - time_from).total_seconds() / 1000, 1)
    sql = backend_macros(sql, time_from.astimezone(timezone.utc), time_to.astimezone(timezone.utc),
                         interval_seconds)
    leftover = re.search(r"\$\{?[A-Za-z_]\w*", sql)
    if leftover:
        raise MacroError(f"unresolved {leftover.group(0)!r} in SQL")
    return sql


def _selection(value: VarValue) -> Selection:
    if isinstance(value, Selection):
        return value
    if isinstance(value, str):
        return Selection((value,), multi=False)
    return Selection(tuple(value))


# --- pass 1: the plugin's $__conditionalAll (CHDatasource.applyConditionalAll) -------------------

def conditional_all(sql: str, variables: Mapping[str, Selection]) -> str:
    macro = "$__conditionalAll("
    while (start := sql.rfind(macro)) != -1:
        args, end = _args(sql, start + len(macro) - 1)
        if len(args) != 2:
            raise MacroError(f"$__conditionalAll takes 2 arguments, got {len(args)}")
        name = re.search(r"(?<=\$\{)\w+(?=\})|(?<=\$)\w+", args[1].strip())
        phrase = args[0]
        if name:
            sel = variables.get(name.group(0))
            if sel is None:
                raise MacroError(f"$__conditionalAll refers to unknown variable {name.group(0)!r}")
            if sel.is_all or not sel.values or sel.values == ("",):
                phrase = "1=1"
        sql = sql[:start] + phrase + sql[end:]
    return sql


def _args(sql: str, open_paren: int) -> tuple[list[str], int]:
    """Arguments of the call whose '(' is at `open_paren` (commas at depth 1), and the index after ')'."""
    depth, last, args = 0, open_paren + 1, []
    for i in range(open_paren, len(sql)):
        ch = sql[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[last:i])
                return args, i + 1
        elif ch == "," and depth == 1:
            args.append(sql[last:i])
            last = i + 1
    raise MacroError(f"unbalanced parentheses after {sql[max(0, open_paren - 20):open_paren + 1]!r}")


# --- pass 2: Grafana template variables -----------------------------------------------------------

_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?::([^}]+))?\}")


def interpolate(sql: str, variables: Mapping[str, Selection]) -> str:
    def replace(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(5)
        sel = variables.get(name)
        if sel is None:
            return m.group(0)  # not a variable: a macro for the backend, or an error caught later
        return format_value(sel, fmt)

    return _VARIABLE.sub(replace, sql)


def format_value(sel: Selection, fmt: str | None) -> str:
    values = list(sel.values)
    if fmt is None:  # the plugin's formatter: arrays become 'a','b'; single values go in raw
        return "'" + "','".join(values) + "'" if sel.multi or sel.is_all else (values[0] if values else "")
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt == "sqlstring":
        return ",".join("'" + v.replace("'", "''") + "'" for v in values)
    if fmt in ("csv", "raw"):
        return ",".join(values)
    raise MacroError(f"unsupported variable format {fmt!r}")


# --- pass 3: the plugin's backend macros ----------------------------------------------------------

def backend_macros(sql: str, start: datetime, end: datetime, interval_seconds: float) -> str:
    def dt(t: datetime) -> str:
        return f"toDateTime({int(t.timestamp())})"

    def dt64(t: datetime) -> str:
        return f"fromUnixTimestamp64Milli({int(round(t.timestamp() * 1000))})"

    def date(t: datetime) -> str:
        return f"toDate('{t.date().isoformat()}')"

    seconds = int(max(interval_seconds, 1))
    millis = int(max(math.floor(interval_seconds * 1000), 1))
    no_args = {
        "fromTime": dt(start), "toTime": dt(end), "fromTime_ms": dt64(start), "toTime_ms": dt64(end),
        "interval_s": str(seconds),
    }
    one_arg = {
        "timeFilter": lambda c: f"{c} >= {dt(start)} AND {c} <= {dt(end)}",
        "timeFilter_ms": lambda c: f"{c} >= {dt64(start)} AND {c} <= {dt64(end)}",
        "dateFilter": lambda c: f"{c} >= {date(start)} AND {c} <= {date(end)}",
        "timeInterval": lambda c: f"toStartOfInterval(toDateTime({c}), INTERVAL {seconds} second)",
        "timeInterval_ms": lambda c: f"toStartOfInterval(toDateTime64({c}, 3), INTERVAL {millis} millisecond)",
    }
    out, pos = [], 0
    for m in re.finditer(r"\$__(\w+)", sql):
        if m.start() < pos:
            continue
        name = m.group(1)
        out.append(sql[pos:m.start()])
        pos = m.end()
        has_args = pos < len(sql) and sql[pos] == "("
        if name in no_args and not has_args:
            out.append(no_args[name])
        elif name in one_arg or name in ("dateTimeFilter", "dt"):
            if not has_args:
                raise MacroError(f"$__{name} needs arguments")
            args, pos = _args(sql, pos)
            args = [a.strip() for a in args]
            if name in one_arg:
                if len(args) != 1:
                    raise MacroError(f"$__{name}: expected 1 argument, received {len(args)}")
                out.append(one_arg[name](args[0]))
            else:
                if len(args) != 2:
                    raise MacroError(f"$__{name}: expected 2 arguments, received {len(args)}")
                out.append(f"({one_arg['dateFilter'](args[0])}) AND ({one_arg['timeFilter'](args[1])})")
        else:
            raise MacroError(f"unknown macro $__{name}")
    out.append(sql[pos:])
    return "".join(out)
