"""refresh-dashboards: the dashboards follow the business.

Touchpoints come from the data (every slug seen in a fact table) and from the registry, so a
touchpoint that starts sending events gets its panels on the next refresh, without a deploy.
The models are written to TOUCHPULSE_HOME/dashboards (unchanged files are left alone) and,
when Grafana is configured, provisioned with annotations for significant NPS changes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from touchpulse.clickhouse.schema import q
from touchpulse.core.business_time import business_zone
from touchpulse.core.touchpoints import Registry, load_registry
from touchpulse.flows import annotations as ann
from touchpulse.settings import Settings

log = logging.getLogger(__name__)

DATASOURCE_UID = "touchpulse-clickhouse"


@dataclass
class RefreshResult:
    touchpoints: list[str]
    new_touchpoints: list[str]          # seen in the data but not in the registry
    written: list[Path]
    changed_files: list[Path]
    provisioned: Any = None             # what provision() returned, None when Grafana is not configured
    annotations: ann.SyncResult | None = None
    significant_changes: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {"touchpoints": self.touchpoints, "new_touchpoints": self.new_touchpoints,
               "written": [str(p) for p in self.written], "changed_files": [str(p) for p in self.changed_files],
               "significant_nps_changes": self.significant_changes, "grafana": self.provisioned is not None}
        if self.annotations is not None:
            out["annotations"] = vars(self.annotations)
        if self.provisioned is not None:
            out["provisioned"] = _plain(self.provisioned)
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return _plain(vars(value))
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def discover_touchpoints(client, database: str) -> list[str]:
    """Every touchpoint slug seen in accepted events (through a view: the Grafana/flow reader
    may select views only)."""
    result = client.query(f"SELECT DISTINCT touchpoint FROM {q(database)}.touchpoint_activity ORDER BY touchpoint")
    return [r[0] for r in result.result_rows]


def grafana_api(settings: Settings):
    """A grafana-client API with the service-account token, or None when Grafana is not configured."""
    if not settings.grafana_url or not settings.grafana_token:
        return None
    from grafana_client import GrafanaApi

    return GrafanaApi.from_url(settings.grafana_url, credential=settings.grafana_token)


def datasource_for(settings: Settings) -> dict[str, Any]:
    """The ClickHouse datasource Grafana uses: the server of TOUCHPULSE_CLICKHOUSE (embedded chDB
    cannot be shared with Grafana, which provision() reports in one line)."""
    from touchpulse.dashboards.provision import clickhouse_datasource

    return clickhouse_datasource(settings.clickhouse, settings.database, uid=DATASOURCE_UID)


def grafana_error(exc: Exception, url: str) -> Exception:
    """One line for a Grafana failure the operator can act on (ProvisionError is a UserError)."""
    from touchpulse.dashboards.provision import ProvisionError

    if isinstance(exc, ProvisionError):
        return exc
    status = getattr(exc, "status_code", None)
    if status == 401:
        return ProvisionError(f"Grafana at {url} rejected the token (401): set TOUCHPULSE_GRAFANA_TOKEN to a valid "
                              "service-account token")
    if status == 403:
        return ProvisionError(f"Grafana at {url} denied access (403): the service account needs the Editor role")
    detail = getattr(exc, "message", "") or ""
    return ProvisionError(f"cannot use Grafana at {url}: {status or type(exc).__name__} {detail}".rstrip())


def check_grafana(settings: Settings) -> None:
    """Before a manual run: the datasource can be described and the token is accepted, so that a
    configuration mistake is one line, not a failed flow run with a traceback in its log."""
    api = grafana_api(settings)
    if api is None:
        return
    datasource_for(settings)
    try:
        api.folder.get_all_folders()
    except Exception as exc:  # grafana-client and niquests raise many types
        raise grafana_error(exc, settings.grafana_url) from None


def refresh_dashboards(client, settings: Settings, *, out_dir: Path | None = None, registry: Registry | None = None,
                       api: Any = None, today: date | None = None,
                       datasource: Callable[[Settings], dict[str, Any]] = datasource_for) -> RefreshResult:
    """Discover touchpoints, build and write the dashboards, and provision them when Grafana is set."""
    from touchpulse.dashboards.build import build_all, render
    from touchpulse.flows.runtime import require_schema
    from touchpulse.report.daily import write_atomic

    require_schema(client, settings.database)
    registry = registry or load_registry(settings.touchpoints)
    seen = discover_touchpoints(client, settings.database)
    touchpoints = sorted(set(seen) | set(registry.touchpoints))
    new = sorted(set(seen) - set(registry.touchpoints))
    if new:
        log.info("touchpoints not in the registry (default targets): %s", ", ".join(new))
    models = build_all(touchpoints, datasource_uid=DATASOURCE_UID, database=settings.database,
                       timezone=settings.timezone)
    out_dir = Path(out_dir) if out_dir else settings.home / "dashboards"
    out_dir.mkdir(parents=True, exist_ok=True)
    written, changed = [], []
    for uid, model in models.items():
        path, text = out_dir / f"{uid}.json", render(model)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            write_atomic(path, text)  # Grafana's file provisioning may read the directory at any time
            changed.append(path)
        written.append(path)
    result = RefreshResult(touchpoints, new, written, changed)

    zone = business_zone(settings.timezone)
    today = today or datetime.now(timezone.utc).astimezone(zone).date()
    until = min(today, ann.latest_day(client, settings.database) or today)  # history loaded late still gets its notes
    since = until - timedelta(days=ann.LOOKBACK_DAYS)
    changes = ann.read_changes(client, settings.database, since, until)
    result.significant_changes = len(changes)

    api = api if api is not None else grafana_api(settings)
    if api is None:
        result.notes.append("Grafana not configured (TOUCHPULSE_GRAFANA_URL / TOUCHPULSE_GRAFANA_TOKEN): "
                            "dashboards written to files only")
        return result
    from touchpulse.dashboards.provision import provision

    result.provisioned = provision(api, models, datasource(settings), database=settings.database,
                                   timezone=settings.timezone)
    dashboards = [uid for uid in ann.DASHBOARDS if uid in models]
    names = {slug: tp.name for slug, tp in registry.touchpoints.items()}
    desired = ann.to_annotations(changes, zone, names, dashboards)
    window = (int(datetime.combine(since, time(0), zone).timestamp() * 1000),
              int(datetime.combine(until + timedelta(days=1), time(0), zone).timestamp() * 1000))
    try:
        result.annotations = ann.sync(api, desired, dashboards, *window)
    except Exception as exc:
        raise grafana_error(exc, settings.grafana_url or "Grafana") from exc
    return result
