"""Run every panel's SQL against ClickHouse the way Grafana would, and report what came back.

Variables take their default selection; query variables are first resolved by running their
own SQL, and `All` expands to the options that returned. Panels in a repeated row run once per
value of their variable. Used by the tests (on chDB over simulated data) and by
`touchpulse dashboards check` (on whatever ClickHouse the settings name).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from touchpulse.dashboards.build import panels, repeated_by
from touchpulse.dashboards.macros import ALL, Selection, expand

Runner = Callable[[str], list[tuple]]


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel_id: int
    title: str
    ref_id: str
    raw_sql: str
    repeat: str | None


@dataclass(frozen=True)
class PanelResult:
    query: PanelQuery
    scoped: Mapping[str, str]
    sql: str
    rows: int
    error: str | None

    @property
    def label(self) -> str:
        scope = "".join(f" [{k}={v}]" for k, v in self.scoped.items())
        return f"{self.query.dashboard} #{self.query.panel_id} {self.query.title!r} {self.query.ref_id}{scope}"


def panel_queries(model: dict[str, Any]) -> list[PanelQuery]:
    repeats = repeated_by(model)
    out = []
    for panel in panels(model):
        for t in panel.get("targets", []):
            out.append(PanelQuery(model["uid"], panel["id"], panel.get("title", ""), t.get("refId", ""),
                                  t.get("rawSql", ""), repeats.get(panel["id"])))
    return out


def resolve_variables(model: dict[str, Any], run: Runner, time_from: datetime, time_to: datetime,
                      chosen: Mapping[str, Selection] | None = None) -> dict[str, Selection]:
    """Each variable's selection: `chosen` if given, else its saved default (All = every option)."""
    out: dict[str, Selection] = {}
    for var in model.get("templating", {}).get("list", []):
        name = var["name"]
        if var["type"] == "query":
            sql = expand(var["query"], time_from=time_from, time_to=time_to, variables=out)
            options = [str(row[0]) for row in run(sql)]
        elif var["type"] == "custom":
            options = [o["value"] for o in var.get("options", []) if o["value"] != ALL]
        else:
            raise ValueError(f"{model['uid']}: variable {name!r} of type {var['type']!r} is not supported")
        if chosen and name in chosen:
            out[name] = chosen[name]
            continue
        current = list(var.get("current", {}).get("value") or [])
        multi = bool(var.get("multi"))
        if current == [ALL]:
            out[name] = Selection.all_of(options)
        elif current:
            out[name] = Selection(tuple(current), multi=multi)
        elif options:  # Grafana selects the first option
            out[name] = Selection((options[0],), multi=multi)
        else:
            out[name] = Selection((), multi=multi)
    return out


def run_dashboard(model: dict[str, Any], run: Runner, time_from: datetime, time_to: datetime,
                  chosen: Mapping[str, Selection] | None = None) -> list[PanelResult]:
    selections = resolve_variables(model, run, time_from, time_to, chosen)
    results = []
    for pq in panel_queries(model):
        scopes: list[dict[str, str]] = [{}]
        if pq.repeat:
            scopes = [{pq.repeat: v} for v in selections[pq.repeat].values]
        for scope in scopes:
            sql = ""
            try:
                sql = expand(pq.raw_sql, time_from=time_from, time_to=time_to, variables=selections,
                             scoped={k: Selection.one(v) for k, v in scope.items()})
                rows, error = len(run(sql)), None
            except Exception as exc:  # reported per panel: one bad panel must not hide the others
                rows, error = 0, (str(exc).strip().splitlines() or [type(exc).__name__])[0][:500]
            results.append(PanelResult(pq, scope, sql, rows, error))
    return results
