"""What a read through the worker may do, decided before the engine runs it.

Every query runs in a session of its own with `readonly = 2`: ClickHouse itself then refuses
INSERT, DDL, SYSTEM, OPTIMIZE and the rest with its own READONLY error, and still lets a client
change settings (clickhouse-connect and Grafana send several with every query). In a ClickHouse
server, grants and user_files_path keep a readonly user away from the machine; chDB has neither,
so this module closes what readonly = 2 leaves open there:

- statements other than SELECT/WITH/SHOW/DESCRIBE/EXPLAIN/EXISTS (KILL QUERY and USE pass
  readonly = 2), refused as READONLY;
- `INTO OUTFILE` (it writes a file even under readonly), refused as INTO_OUTFILE_NOT_ALLOWED;
- table functions that reach outside the database (file, url, s3, remote, mysql, python, ...:
  every table function of the engine but a short list of generators) and the `file()` and AI
  functions, refused as ACCESS_DENIED;
- settings that would lift the endpoint's limits (threads, memory, time, result size, CPU
  priority), refused as SETTING_CONSTRAINT_VIOLATION, whether sent as URL parameters or in a
  SETTINGS clause.

The checks read the query as the engine's own parser re-formats it (`formatQuerySingleLine`):
comments are gone, strings and identifiers are quoted one way, so a small tokenizer reads it
exactly. The client's SQL text itself is what then runs, unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from touchpulse.serve.protocol import (ACCESS_DENIED, INTO_OUTFILE_NOT_ALLOWED, READONLY, SETTING_CONSTRAINT_VIOLATION,
                                       UNKNOWN_SETTING, ClickHouseError)

READ_STATEMENTS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS"})
# Table functions that only generate rows or read this engine's own tables.
ALLOWED_TABLE_FUNCTIONS = frozenset({
    "numbers", "numbers_mt", "zeros", "zeros_mt", "values", "view", "viewifpermitted", "generaterandom",
    "generate_series", "generateseries", "primes", "null", "format", "merge", "loop", "sqlstandardvalues",
})
# Scalar functions that read the machine's files or call out.
DENIED_FUNCTIONS = frozenset({"file"})
DENIED_PREFIXES = ("ai",)  # aiGenerate, AIClassify, ...: calls to a language model service

MIB = 2**20


@dataclass(frozen=True)
class Limits:
    """What every read through the worker gets; a client may ask for less, never for more."""
    max_threads: int = 1
    max_memory_usage: int = 512 * MIB
    max_execution_time: int = 60
    max_result_bytes: int = 256 * MIB
    os_thread_priority: int = 19  # nice 19: ingestion threads always come first
    # While the worker is ingesting, reads may occupy at most this share of the time (after a burst of
    # `burst_seconds`): a dashboard refreshing now and then runs at once, a loop of queries is paced.
    share_while_ingesting: float = 0.5
    burst_seconds: float = 1.0

    def settings(self) -> dict[str, int]:
        return {"max_threads": self.max_threads, "max_memory_usage": self.max_memory_usage,
                "max_execution_time": self.max_execution_time, "max_result_bytes": self.max_result_bytes,
                "os_thread_priority": self.os_thread_priority}


# Settings no client may set (beyond readonly itself, which the engine protects).
FORBIDDEN_SETTINGS = frozenset({"readonly", "profile", "allow_ddl", "allow_introspection_functions",
                                "priority", "os_threads_nice_value_query", "os_threads_nice_value_materialized_view",
                                "max_concurrent_queries_for_user", "max_concurrent_queries_for_all_users",
                                "max_server_memory_usage", "memory_overcommit_ratio_denominator",
                                "max_untracked_memory", "max_temporary_data_on_disk_size_for_query"})


def check_setting(name: str, value: str, limits: Limits) -> None:
    """A setting a client asks for (URL parameter or SETTINGS clause) within the endpoint's limits."""
    key = name.lower()
    if key == "readonly":
        if value.strip("'\" ") in ("1", "2"):
            return  # asking for readonly is asking for no more than we give
        raise ClickHouseError(READONLY, "READONLY", "Cannot modify 'readonly' setting in readonly mode")
    if key in FORBIDDEN_SETTINGS:
        raise ClickHouseError(READONLY, "READONLY", f"Cannot modify '{name}' setting in readonly mode")
    caps = limits.settings()
    if key not in caps:
        return
    number = _number(value)
    if key == "os_thread_priority":
        if number is None or number < caps[key]:
            raise ClickHouseError(SETTING_CONSTRAINT_VIOLATION, "SETTING_CONSTRAINT_VIOLATION",
                                  f"Setting {name} shouldn't be less than {caps[key]}")
        return
    if number is None or not 1 <= number <= caps[key]:
        raise ClickHouseError(SETTING_CONSTRAINT_VIOLATION, "SETTING_CONSTRAINT_VIOLATION",
                              f"Setting {name} shouldn't be greater than {caps[key]} (nor 0, which means no limit)")


def check_url_settings(settings: dict[str, str], known: frozenset[str], limits: Limits) -> dict[str, str]:
    """Settings sent as URL parameters: known to the engine and within the limits."""
    for name, value in settings.items():
        if name not in known:
            raise ClickHouseError(UNKNOWN_SETTING, "UNKNOWN_SETTING", f"Unknown setting '{name}'")
        check_setting(name, value, limits)
    return dict(settings)


def _number(text: str) -> float | None:
    text = text.strip().strip("'\"").strip()
    m = re.fullmatch(r"(-?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*([KMGT]i?B?)?", text, re.IGNORECASE)
    if not m:
        return None
    value = float(m.group(1))
    unit = (m.group(2) or "").upper().rstrip("B")
    if unit:
        power = "KMGT".index(unit[0]) + 1
        value *= (1024 if unit.endswith("I") else 1000) ** power
    return value


# --- a tokenizer for the engine's canonical rendering -------------------------------------------

@dataclass(frozen=True)
class Token:
    kind: str  # word, quoted (identifier), string, number, punct
    text: str

    @property
    def name(self) -> str:
        """The identifier a word or quoted identifier stands for."""
        if self.kind == "quoted":
            return _unquote(self.text)
        return self.text


_WORD = re.compile(r"[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|0[bB][01]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_OPERATORS = ("->", "::", "<=", ">=", "!=", "<>", "||", "==", "<=>")


def tokens(sql: str) -> list[Token]:
    out, i, n = [], 0, len(sql)
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
        elif sql.startswith("--", i) or c == "#":
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif sql.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if sql.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif sql.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c in "'`\"":
            j = _closing(sql, i, c)
            out.append(Token("string" if c == "'" else "quoted", sql[i:j]))
            i = j
        elif c == "$" and (m := re.match(r"\$([A-Za-z0-9_]*)\$", sql[i:])):
            end = sql.find(m.group(0), i + len(m.group(0)))
            j = n if end < 0 else end + len(m.group(0))
            out.append(Token("string", sql[i:j]))
            i = j
        elif (m := _NUMBER.match(sql, i)) and (c.isdigit() or c == "."):
            out.append(Token("number", m.group(0)))
            i = m.end()
        elif m := _WORD.match(sql, i):
            out.append(Token("word", m.group(0)))
            i = m.end()
        else:
            op = next((o for o in sorted(_OPERATORS, key=len, reverse=True) if sql.startswith(o, i)), c)
            out.append(Token("punct", op))
            i += len(op)
    return out


def _closing(sql: str, i: int, quote: str) -> int:
    """Index after the literal opened at i (backslash escapes and doubled quotes, as ClickHouse)."""
    j, n = i + 1, len(sql)
    while j < n:
        if sql[j] == "\\":
            j += 2
        elif sql[j] == quote:
            if j + 1 < n and sql[j + 1] == quote:
                j += 2
            else:
                return j + 1
        else:
            j += 1
    return n


def _unquote(text: str) -> str:
    body = text[1:-1] if len(text) >= 2 else text
    return re.sub(r"\\(.)", r"\1", body).replace(text[0] * 2, text[0])


# --- the checks ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    statement: str  # SELECT, SHOW, ...
    output_format: str | None  # the query's own FORMAT clause, if any
    settings: dict[str, str]  # its SETTINGS clauses


def check(canonical: str, denied: frozenset[str], limits: Limits, user: str = "default") -> Verdict:
    """Refuse (ClickHouseError) what the endpoint does not run; `canonical` is the engine's
    single-line rendering of the client's query."""
    toks = tokens(canonical)
    first = next((t for t in toks if not (t.kind == "punct" and t.text == "(")), None)
    statement = first.text.upper() if first is not None and first.kind == "word" else ""
    if statement not in READ_STATEMENTS:
        raise ClickHouseError(READONLY, "READONLY", f"{user}: Cannot execute query in readonly mode")
    settings: dict[str, str] = {}
    output_format = None
    for i, t in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if t.kind == "word" and t.text.upper() == "INTO" and nxt is not None and nxt.text.upper() == "OUTFILE":
            raise ClickHouseError(INTO_OUTFILE_NOT_ALLOWED, "INTO_OUTFILE_NOT_ALLOWED", "INTO OUTFILE is not allowed")
        if t.kind in ("word", "quoted") and nxt is not None and nxt.kind == "punct" and nxt.text == "(":
            name = t.name.lower()
            if name in denied or name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES):
                raise ClickHouseError(ACCESS_DENIED, "ACCESS_DENIED",
                                      f"{user}: {t.name}() reaches outside the database: touchpulse's read "
                                      "endpoint does not run it")
        if t.kind == "word" and t.text.upper() == "SETTINGS":
            settings.update(_settings_clause(toks, i + 1))
        if t.kind == "word" and t.text.upper() == "FORMAT" and nxt is not None and nxt.kind in ("word", "quoted") \
                and i + 2 == len(toks):
            output_format = nxt.name
    for name, value in settings.items():
        check_setting(name, value, limits)
    return Verdict(statement, output_format, settings)


def _settings_clause(toks: list[Token], i: int) -> dict[str, str]:
    """`name = value, ...` from position i; {} when what follows is not a settings list."""
    out: dict[str, str] = {}
    while i + 2 < len(toks) and toks[i].kind in ("word", "quoted") and toks[i + 1].text == "=":
        name, i = toks[i].name, i + 2
        start, depth = i, 0
        while i < len(toks):
            t = toks[i]
            if t.kind == "punct" and t.text in "([{":
                depth += 1
            elif t.kind == "punct" and t.text in ")]}":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and ((t.kind == "punct" and t.text == ",") or
                                 (t.kind == "word" and t.text.upper() in ("FORMAT", "SETTINGS", "UNION", "EXCEPT",
                                                                          "INTERSECT"))):
                break
            i += 1
        out[name] = " ".join(t.text for t in toks[start:i])
        if i < len(toks) and toks[i].text == ",":
            i += 1
        else:
            break
    return out


def denied_table_functions(names) -> frozenset[str]:
    """Of the engine's table functions (system.table_functions), those a read may not call."""
    return frozenset(n.lower() for n in names) - ALLOWED_TABLE_FUNCTIONS
