"""Small builders for the Grafana dashboard JSON model (schema 41, Grafana 11).

Plain dictionaries rather than the foundation SDK's builders: the output must be byte-stable
and readable in review, and the SDK is used where it is strongest, as an independent check
(tests load every model into its typed classes and back). Each builder writes the same
defaults the SDK would, so that round trip is exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

PLUGIN = "grafana-clickhouse-datasource"
TABLE, TIME_SERIES = 1, 0  # the plugin's `format` values (sqlutil.FormatQueryOption)
ALL = "$__all"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_UID = re.compile(r"[A-Za-z0-9_-]{1,40}")


@dataclass(frozen=True)
class Context:
    """What every dashboard needs to know: where the views are and how days are counted."""

    datasource_uid: str
    database: str
    timezone: str
    touchpoints: tuple[str, ...]
    service_level_target: float = 0.8

    def __post_init__(self) -> None:
        if not _IDENTIFIER.fullmatch(self.database):
            raise ValueError(f"database {self.database!r} is not a plain identifier (letters, digits, _)")
        if not _UID.fullmatch(self.datasource_uid):
            raise ValueError(f"datasource_uid {self.datasource_uid!r} must be 1-40 letters, digits, '-' or '_'")
        if not 0 < self.service_level_target <= 1:
            raise ValueError(f"service_level_target must be in (0, 1], got {self.service_level_target}")

    @property
    def ref(self) -> dict[str, str]:
        return {"type": PLUGIN, "uid": self.datasource_uid}

    def view(self, name: str) -> str:
        return f"{self.database}.{name}"

    def tz(self) -> str:
        return sql_string(self.timezone)

    def day_time(self, column: str = "day") -> str:
        """A business day as the instant its midnight starts, for time-series x axes."""
        return f"toDateTime({column}, {self.tz()})"


def sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def target(ctx: Context, sql: str, *, series: bool = False, ref_id: str = "A") -> dict[str, Any]:
    """One ClickHouse query in raw-SQL mode; `series` asks the plugin for time-series frames."""
    return {
        "datasource": ctx.ref,
        "editorType": "sql",
        "format": TIME_SERIES if series else TABLE,
        "queryType": "timeSeries" if series else "table",
        "rawSql": dedent_sql(sql),
        "refId": ref_id,
    }


_CLAUSE = re.compile(r"(SELECT|FROM|WHERE|GROUP BY|ORDER BY|LIMIT|HAVING|UNION|WITH|LEFT JOIN|JOIN|AND|OR)\b"
                     r"|\)")


def dedent_sql(sql: str) -> str:
    """Re-indent SQL assembled from fragments: 4 spaces per open parenthesis, continuation
    lines (not starting a clause) 4 more, so what Grafana's editor shows is readable."""
    out, depth = [], 0
    for raw in sql.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        lead = len(line) - len(line.lstrip(")"))
        indent = depth - lead + (0 if _CLAUSE.match(line) else 1)
        if line.startswith("AND ") or line.startswith("OR "):
            indent += 1
        out.append("    " * max(indent, 0) + line)
        depth += _paren_balance(line)
    return "\n".join(out)


def _paren_balance(line: str) -> int:
    balance, quoted = 0, False
    for i, ch in enumerate(line):
        if ch == "'" and (i == 0 or line[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted:
            balance += (ch == "(") - (ch == ")")
    return balance


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for value, color in steps]}


def field_config(*, unit: str | None = None, decimals: int | None = None, min_val: float | None = None,
                 max_val: float | None = None, steps: dict | None = None, custom: dict | None = None,
                 color: dict | None = None, display_name: str | None = None, no_value: str | None = None,
                 overrides: list | None = None) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for key, value in (("unit", unit), ("decimals", decimals), ("min", min_val), ("max", max_val),
                       ("thresholds", steps), ("custom", custom), ("color", color),
                       ("displayName", display_name), ("noValue", no_value)):
        if value is not None:
            defaults[key] = value
    return {"defaults": defaults, "overrides": overrides or []}


def override(matcher_id: str, matcher_value: str, **properties: Any) -> dict[str, Any]:
    return {"matcher": {"id": matcher_id, "options": matcher_value},
            "properties": [{"id": key.replace("__", "."), "value": value} for key, value in properties.items()]}


def colored(*series: tuple[str, str]) -> list[dict[str, Any]]:
    """Overrides giving each (field name, colour) series its fixed colour: green for the good
    part of a stacked bar, red for the bad one, and so on."""
    return [override("byName", name, color={"fixedColor": color, "mode": "fixed"}) for name, color in series]


@dataclass
class Panel:
    """A panel before layout; `width`/`height` are grid units (24 columns)."""

    kind: str
    title: str
    description: str
    targets: list[dict[str, Any]]
    options: dict[str, Any]
    field_config: dict[str, Any]
    width: int = 12
    height: int = 8
    extra: dict[str, Any] = field(default_factory=dict)


def stat(ctx: Context, title: str, description: str, sql: str, *, unit: str | None = None,
         decimals: int | None = None, steps: dict | None = None, width: int = 4, height: int = 4,
         text_mode: str = "value_and_name", color_mode: str = "value", overrides: list | None = None,
         all_values: bool = False) -> Panel:
    """A big number; `all_values` shows one per row (named by the row's text column) instead of one per field."""
    steps = steps or thresholds((None, "blue"))
    options = {
        "colorMode": color_mode, "graphMode": "none", "justifyMode": "auto", "orientation": "auto",
        "percentChangeColorMode": "standard", "showPercentChange": False, "textMode": text_mode,
        "wideLayout": True,
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": all_values},
    }
    return Panel("stat", title, description, [target(ctx, sql)], options,
                 field_config(unit=unit, decimals=decimals, steps=steps, color={"mode": "thresholds"},
                              overrides=overrides), width, height)


def timeseries(ctx: Context, title: str, description: str, sql: str, *, unit: str | None = None,
               decimals: int | None = None, long_by: str | None = None, bars: bool = False,
               stacked: bool = False, steps: dict | None = None, threshold_line: bool = False,
               min_val: float | None = None, max_val: float | None = None, overrides: list | None = None,
               width: int = 12, height: int = 8) -> Panel:
    """A time series; `long_by` names the label column of a long frame (one series per value)."""
    custom = {
        "axisBorderShow": False, "axisCenteredZero": False, "axisColorMode": "text", "axisLabel": "",
        "axisPlacement": "auto", "barAlignment": 0, "barWidthFactor": 0.6,
        "drawStyle": "bars" if bars else "line", "fillOpacity": 60 if bars else 10,
        "gradientMode": "none", "hideFrom": {"legend": False, "tooltip": False, "viz": False},
        "insertNulls": False, "lineInterpolation": "linear", "lineWidth": 1 if bars else 2, "pointSize": 5,
        "scaleDistribution": {"type": "linear"}, "showPoints": "auto", "spanNulls": False,
        "stacking": {"group": "A", "mode": "normal" if stacked else "none"},
        "thresholdsStyle": {"mode": "line" if threshold_line else "off"},
    }
    options = {
        "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"hideZeros": False, "mode": "multi", "sort": "desc"},
    }
    return Panel("timeseries", title, description, [target(ctx, sql, series=True)], options,
                 field_config(unit=unit, decimals=decimals, min_val=min_val, max_val=max_val,
                              steps=steps or thresholds((None, "green")), custom=custom,
                              color={"mode": "palette-classic"},
                              display_name=f"${{__field.labels.{long_by}}}" if long_by else None,
                              overrides=overrides), width, height)


def table(ctx: Context, title: str, description: str, sql: str, *, width: int = 12, height: int = 8,
          overrides: list | None = None, sort_by: list | None = None) -> Panel:
    options = {
        "cellHeight": "sm", "frameIndex": 0,
        "footer": {"countRows": False, "fields": "", "reducer": ["sum"], "show": False},
        "showHeader": True, "showTypeIcons": False, "sortBy": sort_by or [],
    }
    custom = {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}
    return Panel("table", title, description, [target(ctx, sql)], options,
                 field_config(custom=custom, steps=thresholds((None, "green")), color={"mode": "thresholds"},
                              overrides=overrides), width, height)


def barchart(ctx: Context, title: str, description: str, sql: str, *, x_field: str, unit: str | None = None,
             stacked: bool = False, width: int = 12, height: int = 8, overrides: list | None = None) -> Panel:
    options = {
        "barRadius": 0, "barWidth": 0.9, "fullHighlight": False, "groupWidth": 0.7,
        "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True},
        "orientation": "auto", "showValue": "never", "stacking": "normal" if stacked else "none",
        "tooltip": {"hideZeros": False, "mode": "multi", "sort": "none"}, "xField": x_field,
        "xTickLabelMaxLength": 0, "xTickLabelRotation": 0, "xTickLabelSpacing": 0,
    }
    custom = {"axisBorderShow": False, "axisCenteredZero": False, "axisColorMode": "text", "axisLabel": "",
              "axisPlacement": "auto", "fillOpacity": 80, "gradientMode": "none",
              "hideFrom": {"legend": False, "tooltip": False, "viz": False}, "lineWidth": 1,
              "scaleDistribution": {"type": "linear"}, "thresholdsStyle": {"mode": "off"}}
    return Panel("barchart", title, description, [target(ctx, sql)], options,
                 field_config(unit=unit, custom=custom, steps=thresholds((None, "green")),
                              color={"mode": "palette-classic"}, overrides=overrides), width, height)


def piechart(ctx: Context, title: str, description: str, sql: str, *, width: int = 6, height: int = 8,
             overrides: list | None = None) -> Panel:
    options = {
        "displayLabels": ["percent"],
        "legend": {"calcs": [], "displayMode": "list", "placement": "right", "showLegend": True,
                   "values": ["value"]},
        "orientation": "auto",
        "pieType": "donut",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "tooltip": {"hideZeros": False, "mode": "single", "sort": "none"},
    }
    custom = {"hideFrom": {"legend": False, "tooltip": False, "viz": False}}
    return Panel("piechart", title, description, [target(ctx, sql)], options,
                 field_config(custom=custom, color={"mode": "palette-classic"}, overrides=overrides),
                 width, height)


def text(title: str, content: str, *, width: int = 24, height: int = 3) -> Panel:
    options = {"code": {"language": "plaintext", "showLineNumbers": False, "showMiniMap": False},
               "content": content, "mode": "markdown"}
    return Panel("text", title, "", [], options, field_config(), width, height)


@dataclass
class Row:
    title: str
    repeat: str | None = None
    collapsed: bool = False


def layout(items: list[Panel | Row], ctx: Context) -> list[dict[str, Any]]:
    """Place panels left to right, wrapping at 24 columns; ids are sequential, so stable."""
    out: list[dict[str, Any]] = []
    x = y = row_height = 0
    next_id = 1
    for item in items:
        if isinstance(item, Row):
            if x:
                y, x, row_height = y + row_height, 0, 0
            row: dict[str, Any] = {"collapsed": item.collapsed, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                                   "id": next_id, "panels": [], "title": item.title, "type": "row"}
            if item.repeat:
                row["repeat"] = item.repeat
            out.append(row)
            next_id += 1
            y += 1
            continue
        if x + item.width > 24:
            y, x, row_height = y + row_height, 0, 0
        panel: dict[str, Any] = {
            "fieldConfig": item.field_config,
            "gridPos": {"h": item.height, "w": item.width, "x": x, "y": y},
            "id": next_id,
            "options": item.options,
            "repeatDirection": "h",
            "title": item.title,
            "transparent": False,
            "type": item.kind,
        }
        if item.description:
            panel["description"] = item.description
        if item.targets:
            panel["datasource"] = ctx.ref
            panel["targets"] = item.targets
        panel.update(item.extra)
        out.append(panel)
        next_id += 1
        x += item.width
        row_height = max(row_height, item.height)
    return out


# Fields the SDK's VariableModel always writes; written here too so the round trip is exact.
_VARIABLE_DEFAULTS = {"allowCustomValue": True, "auto": False, "auto_count": 30, "auto_min": "10s"}


def query_variable(ctx: Context, name: str, label: str, sql: str, *, multi: bool = True,
                   include_all: bool = True, default: list[str] | None = None, description: str = "",
                   refresh_on_time_change: bool = True) -> dict[str, Any]:
    sql = " ".join(dedent_sql(sql).split())
    return {
        **_variable_base(name, label, description, multi, include_all, _current(default, include_all)),
        "datasource": ctx.ref,
        "options": [],
        "query": sql,
        "refresh": 2 if refresh_on_time_change else 1,
        "regex": "",
        "sort": 1,
        "type": "query",
    }


def custom_variable(name: str, label: str, values: list[str], *, multi: bool = True, include_all: bool = True,
                    default: list[str] | None = None, description: str = "") -> dict[str, Any]:
    current = _current(default, include_all)
    chosen = set(current["value"])
    options = ([{"selected": ALL in chosen, "text": "All", "value": ALL}] if include_all else []) + [
        {"selected": v in chosen, "text": v, "value": v} for v in values]
    return {
        **_variable_base(name, label, description, multi, include_all, current),
        "options": options,
        "query": ",".join(values),
        "type": "custom",
    }


def _variable_base(name: str, label: str, description: str, multi: bool, include_all: bool,
                   current: dict[str, Any]) -> dict[str, Any]:
    """The fields every template variable has, whatever its type."""
    return {**_VARIABLE_DEFAULTS, "current": current, "description": description, "hide": 0,
            "includeAll": include_all, "label": label, "multi": multi, "name": name, "skipUrlSync": False}


def _current(default: list[str] | None, include_all: bool) -> dict[str, Any]:
    if default:
        return {"selected": True, "text": list(default), "value": list(default)}
    if include_all:
        return {"selected": True, "text": ["All"], "value": [ALL]}
    return {"selected": False, "text": [], "value": []}


def dashboard(ctx: Context, *, uid: str, title: str, description: str, tags: list[str],
              items: list[Panel | Row], variables: list[dict[str, Any]], time_from: str = "now-30d",
              links: bool = True) -> dict[str, Any]:
    return {
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
            "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
        }]},
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "links": [{"asDropdown": True, "icon": "external link", "includeVars": True, "keepTime": True,
                   "tags": ["touchpulse"], "targetBlank": False, "title": "touchpulse", "tooltip": "",
                   "type": "dashboards", "url": ""}] if links else [],
        "panels": layout(items, ctx),
        "refresh": "15m",
        "schemaVersion": 41,
        "tags": tags,
        "templating": {"list": variables},
        "time": {"from": time_from, "to": "now"},
        "timepicker": {"hidden": False, "refresh_intervals": ["5m", "15m", "30m", "1h", "2h", "1d"]},
        "timezone": "utc" if ctx.timezone.upper() in ("UTC", "ETC/UTC") else ctx.timezone,
        "title": title,
        "uid": uid,
        "weekStart": "monday",
    }
