"""Grafana annotations for significant NPS changes, kept in sync on every refresh.

The source is `nps_rolling_7d`: a day is significant when the 7-day NPS ending on it differs
from the 7 days before by more than the combined margin of error. One real shift makes a run
of consecutive significant days, so each run (same touchpoint, kind and direction) becomes one
annotation on its first day. The sync is idempotent: it creates what is missing, corrects the
text of what moved (late answers), and removes annotations that are no longer significant
(after a backfill or a dead-letter replay), only among the ones it owns (tag `nps-change`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from touchpulse.clickhouse.schema import q

TAGS = ("touchpulse", "nps-change")
DASHBOARDS = ("touchpulse-nps", "touchpulse-touchpoint")
LOOKBACK_DAYS = 90


@dataclass(frozen=True)
class NpsChange:
    touchpoint: str
    kind: str
    day: date
    nps: float
    prev_nps: float
    change: float
    moe: float
    responses: int
    prev_responses: int


@dataclass(frozen=True)
class Annotation:
    dashboard_uid: str
    time_ms: int
    tags: tuple[str, ...]
    text: str

    @property
    def key(self) -> tuple[str, int, tuple[str, ...]]:
        return self.dashboard_uid, self.time_ms, tuple(sorted(self.tags))


def significant_runs(rows: Iterable[Mapping[str, Any]]) -> list[NpsChange]:
    """The first day of each run of consecutive significant days per (touchpoint, kind, direction)."""
    by_series: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        by_series.setdefault((r["touchpoint"], r["kind"]), []).append(r)
    out = []
    for (tp, kind), series in sorted(by_series.items()):
        prev_day, prev_sign = None, 0
        for r in sorted(series, key=lambda r: r["day"]):
            if not r["significant_change"] or r["nps_change"] is None:
                prev_day, prev_sign = None, 0
                continue
            sign = 1 if r["nps_change"] > 0 else -1
            if not (prev_day is not None and r["day"] - prev_day == timedelta(days=1) and sign == prev_sign):
                out.append(NpsChange(tp, kind, r["day"], float(r["nps"]), float(r["prev_nps"]),
                                     float(r["nps_change"]), float(r["change_moe95"]), int(r["responses"]),
                                     int(r["prev_responses"])))
            prev_day, prev_sign = r["day"], sign
    return out


def to_annotations(changes: Iterable[NpsChange], zone: ZoneInfo, names: Mapping[str, str],
                   dashboards: Iterable[str]) -> list[Annotation]:
    out = []
    for c in changes:
        start = datetime.combine(c.day, time(0), zone)
        verb = "rose" if c.change > 0 else "fell"
        text = (f"NPS at {names.get(c.touchpoint, c.touchpoint)} ({c.kind}) {verb} by {abs(c.change):.1f} points: "
                f"{c.prev_nps:.1f} \u2192 {c.nps:.1f} over 7 days ({c.prev_responses} \u2192 {c.responses} answers), "
                f"beyond the \u00b1{c.moe:.1f} margin of error.")
        tags = (*TAGS, f"touchpoint:{c.touchpoint}", f"kind:{c.kind}", "up" if c.change > 0 else "down")
        for uid in dashboards:
            out.append(Annotation(uid, int(start.timestamp() * 1000), tags, text))
    return out


def latest_day(client, database: str) -> date | None:
    """The last day with own-brand answers, or None when there are none."""
    result = client.query(f"SELECT max(day), count() FROM {q(database)}.{q('nps_rolling_7d')} WHERE brand = 'own'")
    day, rows = result.result_rows[0]
    return day if rows else None


def read_changes(client, database: str, since: date, until: date) -> list[NpsChange]:
    """Own-brand significant days from nps_rolling_7d between `since` and `until` (inclusive)."""
    result = client.query(f"""
SELECT day, touchpoint, kind, nps, prev_nps, nps_change, change_moe95, significant_change, responses, prev_responses
FROM {q(database)}.{q('nps_rolling_7d')}
WHERE brand = 'own' AND day >= {{since:Date32}} AND day <= {{until:Date32}}
ORDER BY touchpoint, kind, day""", parameters={"since": since, "until": until})
    return significant_runs(dict(zip(result.column_names, r)) for r in result.result_rows)


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0


def sync(api, desired: list[Annotation], dashboards: Iterable[str], time_from_ms: int, time_to_ms: int) -> SyncResult:
    """Make the `nps-change` annotations of `dashboards` in [from, to] equal `desired`."""
    result = SyncResult()
    want = {a.key: a for a in desired}
    for uid in dashboards:
        found = api.annotations.find_annotations(time_from=time_from_ms, time_to=time_to_ms, dashboard_uid=uid,
                                                 tags=list(TAGS), ann_type="annotation", limit=10000) or []
        seen = set()
        for item in found:
            key = (uid, int(item.get("time") or 0), tuple(sorted(item.get("tags") or [])))
            target = want.get(key)
            if target is None or key in seen:
                api.annotations.delete_annotations_by_id(item["id"])
                result.deleted += 1
                continue
            seen.add(key)
            if item.get("text") != target.text:
                api.annotations.update_annotation(item["id"], time_from=target.time_ms, time_to=target.time_ms,
                                                  tags=list(target.tags), text=target.text)
                result.updated += 1
            else:
                result.unchanged += 1
        for key, a in sorted(want.items()):
            if a.dashboard_uid == uid and key not in seen:
                api.annotations.add_annotation(dashboard_uid=uid, time_from=a.time_ms, time_to=a.time_ms,
                                               tags=list(a.tags), text=a.text)
                result.created += 1
    return result
