"""Compare view rows with reference rows: same row keys, same columns, values within tolerance."""

from __future__ import annotations

import math
from datetime import date, datetime, timezone
from decimal import Decimal

KEYS = {
    "nps_daily": ("day", "touchpoint", "brand", "kind"),
    "nps_rolling_7d": ("day", "touchpoint", "brand", "kind"),
    "calls_daily": ("day", "touchpoint"),
    "calls_hourly": ("day", "hour", "touchpoint"),
    "calls_resolution_daily": ("day", "touchpoint"),
    "callbacks_hourly": ("day", "hour", "touchpoint"),
    "agents_daily": ("day", "touchpoint", "agent_id"),
    "reviews_daily": ("day", "touchpoint", "platform"),
    "purchases_daily": ("day", "touchpoint", "currency"),
    "loyalty_monthly": ("month", "touchpoint", "currency"),
    "ingest_daily": ("day", "type"),
    "followups_daily": ("day", "touchpoint"),
    "followup_queue": ("followup_id",),
}
QUANTILES = {"wait_p90_seconds", "reply_p50_hours", "callback_p50_minutes", "contact_p50_hours"}
# Columns no reference can know: when the worker raised the follow-up (its clock).
UNKNOWABLE = {"followup_queue": {"created_at"}}  # the contract allows 2 %
REL = 1e-9


def plain(value):
    """The JSON view of a value, as `touchpulse query --format json` prints it (instants in UTC)."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return aware.astimezone(timezone.utc).isoformat()
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T" and value[4:5] == "-":
        try:
            return plain(datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def close(a, b, rel: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=rel, abs_tol=rel)
    return a == b


def mismatches(view: str, actual: list[dict], expected: list[dict]) -> list[str]:
    """Human-readable differences; empty when the view matches the reference."""
    keys = KEYS[view]
    skip = UNKNOWABLE.get(view, set())
    got = {tuple(plain(r[k]) for k in keys): {c: plain(v) for c, v in r.items() if c not in skip} for r in actual}
    want = {tuple(plain(r[k]) for k in keys): {c: plain(v) for c, v in r.items() if c not in skip} for r in expected}
    problems = []
    if len(got) != len(actual):
        problems.append(f"{view}: {len(actual) - len(got)} duplicate row keys in the view")
    for k in sorted(set(want) - set(got), key=str)[:10]:
        problems.append(f"{view}: missing row {k}: {want[k]}")
    for k in sorted(set(got) - set(want), key=str)[:10]:
        problems.append(f"{view}: extra row {k}: {got[k]}")
    for k in sorted(set(got) & set(want), key=str):
        g, w = got[k], want[k]
        if set(g) != set(w):
            problems.append(f"{view}: columns differ: view {sorted(g)} reference {sorted(w)}")
            break
        for col, wv in w.items():
            gv = g[col]
            if col == "significant_change" and _knife_edge(w):
                continue
            if not close(gv, wv, 0.02 if col in QUANTILES else REL):
                problems.append(f"{view} {k}: {col} = {gv!r}, reference {wv!r}")
    return problems


def _knife_edge(row: dict) -> bool:
    """|change| equal to its margin up to rounding: either verdict is right."""
    c, m = row.get("nps_change"), row.get("change_moe95")
    return c is not None and m is not None and math.isclose(abs(c), m, rel_tol=1e-9, abs_tol=1e-9)
