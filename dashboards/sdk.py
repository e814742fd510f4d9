"""A typed ClickHouse query for grafana-foundation-sdk, and the round trip through its models.

The SDK ships no ClickHouse query type; without one, targets would pass through as untyped
bags and the round trip would prove nothing about them. This variant knows exactly the fields
our panels write (an unknown field is dropped, so a typo fails the round trip).
"""

from __future__ import annotations

import json
from typing import Any, Self

from grafana_foundation_sdk.cog import plugins as cogplugins
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as sdk_dashboard

from touchpulse.dashboards.model import PLUGIN


class ClickHouseQuery(cogvariants.Dataquery):
    """The grafana-clickhouse-datasource query model in raw-SQL mode."""

    _FIELDS = (("ref_id", "refId"), ("hide", "hide"), ("datasource", "datasource"), ("editor_type", "editorType"),
               ("query_type", "queryType"), ("format_val", "format"), ("raw_sql", "rawSql"),
               ("database", "database"), ("table", "table"), ("meta", "meta"))

    def __init__(self, ref_id: str = "", hide: bool | None = None,
                 datasource: sdk_dashboard.DataSourceRef | None = None, editor_type: str = "sql",
                 query_type: str | None = None, format_val: int | None = None, raw_sql: str = "",
                 database: str | None = None, table: str | None = None, meta: dict | None = None) -> None:
        self.ref_id, self.hide, self.datasource = ref_id, hide, datasource
        self.editor_type, self.query_type, self.format_val = editor_type, query_type, format_val
        self.raw_sql, self.database, self.table, self.meta = raw_sql, database, table, meta

    def to_json(self) -> dict[str, object]:
        return {key: getattr(self, attr) for attr, key in self._FIELDS if getattr(self, attr) is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        args = {attr: data[key] for attr, key in cls._FIELDS if key in data}
        if "datasource" in args:
            args["datasource"] = sdk_dashboard.DataSourceRef.from_json(args["datasource"])
        return cls(**args)


_registered = False


def register() -> None:
    """Register the SDK's built-in panel/query types and ours (idempotent)."""
    global _registered
    if not _registered:
        cogplugins.register_default_plugins()
        cogruntime.register_dataquery_variant(cogruntime.DataqueryConfig(identifier=PLUGIN,
                                                                        from_json_hook=ClickHouseQuery.from_json))
        _registered = True


def load(model: dict[str, Any]) -> sdk_dashboard.Dashboard:
    register()
    return sdk_dashboard.Dashboard.from_json(model)


def roundtrip(model: dict[str, Any]) -> dict[str, Any]:
    """JSON -> SDK objects -> JSON."""
    return json.loads(json.dumps(load(model), cls=JSONEncoder))
