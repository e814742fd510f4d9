"""Push folder, ClickHouse datasource, dashboards, alert rules and annotations to Grafana.

Idempotent by comparison: each object is read first and written only when it differs, so a
refresh that changes nothing creates no dashboard version, no datasource update and no rule
update. Dashboards are saved with `overwrite: false` and the version just read, so an edit
made in Grafana between our read and our write is refused (412) instead of silently lost; we
re-read once and retry, and report a second conflict.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping
from urllib.parse import unquote, urlsplit

from touchpulse.dashboards.alerts import GROUP_INTERVAL_SECONDS, RULE_GROUP, alert_rules
from touchpulse.dashboards.model import PLUGIN, Context
from touchpulse.errors import UserError

log = logging.getLogger(__name__)

ANNOTATION_TAG = "touchpulse"
# Fields Grafana adds to what we save; they are not part of our desired state.
_DASHBOARD_SERVER_FIELDS = ("id", "version")


class ProvisionError(UserError):
    """Grafana refused or could not be reached; the message says what to fix."""

    exit_code = 1


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


def clickhouse_datasource(url: str, database: str, *, uid: str = "touchpulse-clickhouse",
                          name: str = "touchpulse ClickHouse", username: str | None = None,
                          password: str | None = None) -> dict[str, Any]:
    """The datasource for a ClickHouse server URL (http(s)://[user:pass@]host[:port] or
    clickhouse://... for the native protocol); use a reader that may only select views."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "clickhouse", "clickhouses", "tcp"):
        raise ProvisionError(f"Grafana needs a ClickHouse server URL (http://, https:// or clickhouse://), "
                             f"got {parts.scheme or url!r}; embedded chDB cannot be shared with Grafana")
    native = parts.scheme in ("clickhouse", "clickhouses", "tcp")
    secure = parts.scheme in ("https", "clickhouses")
    port = parts.port or (9440 if native and secure else 9000 if native else 8443 if secure else 8123)
    json_data = {"defaultDatabase": database, "host": parts.hostname or "localhost", "port": port,
                 "protocol": "native" if native else "http", "secure": secure,
                 "username": username or unquote(parts.username or "") or "default"}
    ds: dict[str, Any] = {"access": "proxy", "isDefault": False, "jsonData": json_data, "name": name,
                          "type": PLUGIN, "uid": uid}
    secret = password if password is not None else unquote(parts.password or "")
    if secret:
        ds["secureJsonData"] = {"password": secret}
    return ds


def datasource_model(settings) -> dict[str, Any]:
    """The datasource from settings: `grafana_clickhouse` (the URL Grafana itself should use, with a
    reader that may only select views) if the settings have it, else TOUCHPULSE_CLICKHOUSE."""
    url = getattr(settings, "grafana_clickhouse", None) or settings.clickhouse
    return clickhouse_datasource(url, settings.database)


def provision(api, dashboards: Mapping[str, dict[str, Any]], datasource: dict[str, Any],
              folder_title: str = "touchpulse", *, database: str | None = None, timezone: str | None = None,
              service_level_target: float = 0.8, alerts: bool = True) -> dict[str, Any]:
    """Make Grafana match; returns {"folder"|"datasource"|"dashboards"|"alert_rules": counts}.

    The alert rules' database defaults to the datasource's default database, and their business
    time zone to the one the dashboards were built for."""
    if database is None:
        database = (datasource.get("jsonData") or {}).get("defaultDatabase") or "touchpulse"
    if timezone is None:
        zones = {m.get("timezone") for m in dashboards.values()} - {None}
        timezone = zones.pop() if len(zones) == 1 else "UTC"
        timezone = "UTC" if timezone == "utc" else timezone
    try:
        return _provision(api, dashboards, datasource, folder_title, database, timezone, service_level_target,
                          alerts)
    except ProvisionError:
        raise
    except Exception as exc:
        raise _explain(exc, api) from exc


def _provision(api, dashboards, datasource, folder_title, database, timezone, service_level_target,
               alerts) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    folder_uid = _slug(folder_title)
    summary["folder"] = _ensure_folder(api, folder_uid, folder_title).as_dict()
    summary["datasource"] = _ensure_datasource(api, datasource).as_dict()
    counts = Counts()
    for uid in sorted(dashboards):
        counts.add(_ensure_dashboard(api, dashboards[uid], folder_uid))
    summary["dashboards"] = counts.as_dict()
    if alerts:
        ctx = Context(datasource_uid=datasource["uid"], database=database, timezone=timezone, touchpoints=(),
                      service_level_target=service_level_target)
        summary["alert_rules"] = _ensure_alert_rules(api, alert_rules(ctx, folder_uid), folder_uid).as_dict()
    log.info("Grafana provisioned: %s", summary)
    return summary


def _slug(title: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", title.strip()).strip("-").lower()[:40]
    if not slug:
        raise ProvisionError(f"folder title {title!r} has no letters or digits to make a folder uid from")
    return slug


def _get_or_none(call, *args):
    from grafana_client.client import GrafanaClientError
    try:
        return call(*args)
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise


# --- folder and datasource --------------------------------------------------------------------

def _ensure_folder(api, uid: str, title: str) -> Counts:
    counts = Counts()
    current = _get_or_none(api.folder.get_folder, uid)
    if current is None:
        api.folder.create_folder(title, uid=uid)
        counts.add("created")
    elif current.get("title") != title:
        api.folder.update_folder(uid, title=title, version=current.get("version"), overwrite=False)
        counts.add("updated")
    else:
        counts.add("unchanged")
    return counts


def _ensure_datasource(api, desired: dict[str, Any]) -> Counts:
    counts = Counts()
    uid = desired["uid"]
    current = _get_or_none(api.datasource.get_datasource_by_uid, uid)
    if current is None:
        api.datasource.create_datasource(desired)
        counts.add("created")
        return counts
    public = {k: v for k, v in desired.items() if k != "secureJsonData"}
    secrets_missing = set(desired.get("secureJsonData", {})) - {
        k for k, v in (current.get("secureJsonFields") or {}).items() if v}
    if _differs(public, current) or secrets_missing:
        # A changed secret cannot be detected (Grafana never returns it); rotate by renaming or via the UI.
        api.datasource.update_datasource_by_uid(uid, desired)
        counts.add("updated")
    else:
        counts.add("unchanged")
    return counts


def _differs(desired: Any, current: Any) -> bool:
    """True when a field we set has another value on the server (fields we do not set are ignored)."""
    if isinstance(desired, dict):
        if not isinstance(current, dict):
            return True
        return any(_differs(v, current.get(k)) for k, v in desired.items())
    return desired != current


# --- dashboards -------------------------------------------------------------------------------

def _ensure_dashboard(api, model: dict[str, Any], folder_uid: str, retries: int = 1) -> str:
    from grafana_client.client import GrafanaClientError
    uid = model["uid"]
    desired = {k: v for k, v in model.items() if k not in _DASHBOARD_SERVER_FIELDS}
    current = _get_or_none(api.dashboard.get_dashboard, uid)
    if current is not None:
        stored = {k: v for k, v in current["dashboard"].items() if k not in _DASHBOARD_SERVER_FIELDS}
        if stored == desired and current.get("meta", {}).get("folderUid") == folder_uid:
            return "unchanged"
        body_dashboard = dict(desired, id=current["dashboard"].get("id"), version=current["dashboard"]["version"])
    else:
        body_dashboard = dict(desired, id=None)
    body = {"dashboard": body_dashboard, "folderUid": folder_uid, "overwrite": False,
            "message": "touchpulse refresh"}
    try:
        api.dashboard.update_dashboard(body)
    except GrafanaClientError as exc:
        status = exc.response.get("status") if isinstance(exc.response, dict) else None
        if exc.status_code == 412 and status == "version-mismatch" and retries > 0:
            log.warning("dashboard %s changed in Grafana while we compared it; re-reading", uid)
            return _ensure_dashboard(api, model, folder_uid, retries - 1)
        if exc.status_code == 412:
            what = ("another dashboard in the folder has the title " + repr(model.get("title"))
                    if status == "name-exists" else "it was changed in Grafana again while we saved it")
            raise ProvisionError(f"Grafana refused dashboard {uid}: {what} ({status or exc.message})") from None
        raise
    return "created" if current is None else "updated"


# --- alert rules ------------------------------------------------------------------------------

def _ensure_alert_rules(api, rules: list[dict[str, Any]], folder_uid: str) -> Counts:
    counts = Counts()
    for rule in rules:
        current = _get_or_none(api.alertingprovisioning.get_alertrule, rule["uid"])
        if current is None:
            api.alertingprovisioning.create_alertrule(rule)
            counts.add("created")
        elif _differs(rule, current):
            api.alertingprovisioning.update_alertrule(rule["uid"], rule)
            counts.add("updated")
        else:
            counts.add("unchanged")
    group = api.alertingprovisioning.get_rule_group(folder_uid, RULE_GROUP)
    if group.get("interval") != GROUP_INTERVAL_SECONDS:
        group = dict(group, interval=GROUP_INTERVAL_SECONDS)
        api.alertingprovisioning.update_rule_group(folder_uid, RULE_GROUP, group)
    return counts


# --- annotations ------------------------------------------------------------------------------

def annotate(api, dashboard_uid: str, items: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Add annotations (each: `time` as an aware datetime or epoch ms, `text`, optional `tags`,
    `time_end`, `panel_id`) unless one with the same time and text is already there."""
    wanted = [_annotation(dashboard_uid, item) for item in items]
    counts = {"created": 0, "unchanged": 0}
    if not wanted:
        return counts
    try:
        start, end = min(a["time"] for a in wanted), max(a["time"] for a in wanted)
        existing = api.annotations.find_annotations(time_from=start, time_to=end + 1, dashboard_uid=dashboard_uid,
                                                    limit=10000)
        seen = {(a.get("time"), a.get("text")) for a in existing or []}
        for a in wanted:
            if (a["time"], a["text"]) in seen:
                counts["unchanged"] += 1
                continue
            api.annotations.add_annotation(dashboard_uid=dashboard_uid, panel_id=a.get("panelId"),
                                           time_from=a["time"], time_to=a.get("timeEnd"), tags=a["tags"],
                                           text=a["text"])
            seen.add((a["time"], a["text"]))
            counts["created"] += 1
    except ProvisionError:
        raise
    except Exception as exc:
        raise _explain(exc, api) from exc
    return counts


def _annotation(dashboard_uid: str, item: Mapping[str, Any]) -> dict[str, Any]:
    def millis(value: Any, name: str) -> int:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError(f"annotation {name} must be timezone-aware, got {value!r}")
            return int(round(value.timestamp() * 1000))
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"annotation {name} must be a datetime or epoch milliseconds, got {value!r}")

    if not item.get("text"):
        raise ValueError(f"annotation for dashboard {dashboard_uid} needs a non-empty 'text'")
    out = {"time": millis(item.get("time"), "time"), "text": str(item["text"]),
           "tags": sorted({ANNOTATION_TAG, *item.get("tags", [])})}
    if item.get("time_end") is not None:
        out["timeEnd"] = millis(item["time_end"], "time_end")
    if item.get("panel_id") is not None:
        out["panelId"] = int(item["panel_id"])
    return out


# --- errors -----------------------------------------------------------------------------------

def _explain(exc: Exception, api) -> Exception:
    """One line the operator can act on, for the failures that are theirs to fix."""
    from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaServerError
    where = getattr(api, "url", None) or getattr(getattr(api, "client", None), "url", "Grafana")
    if isinstance(exc, GrafanaClientError) and exc.status_code == 401:
        return ProvisionError(f"Grafana at {where} rejected the token (401): set TOUCHPULSE_GRAFANA_TOKEN to a "
                              f"valid service-account token")
    if isinstance(exc, GrafanaClientError) and exc.status_code == 403:
        return ProvisionError(f"Grafana at {where} denied access (403): the service account needs the Editor "
                              f"role (dashboards, folders, alert rules) and datasource write permission")
    if isinstance(exc, GrafanaClientError):
        return ProvisionError(f"Grafana at {where} refused a request ({exc.status_code}): {exc.message}")
    if isinstance(exc, GrafanaServerError):
        return ProvisionError(f"Grafana at {where} failed ({exc.status_code}): {exc.message}")
    if isinstance(exc, GrafanaException):
        return ProvisionError(f"cannot talk to Grafana at {where}: {exc.message}")
    try:
        import niquests.exceptions
        if isinstance(exc, niquests.exceptions.RequestException):
            return ProvisionError(f"cannot reach Grafana at {where}: {type(exc).__name__}")
    except ImportError:  # pragma: no cover
        pass
    return exc
