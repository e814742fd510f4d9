"""Closed loop: did the team call back the customers who scored low, in time, and did it win
them back? The open and overdue queue per touchpoint, close and in-time rates, time to first
contact, customers won back, and the overdue follow-ups themselves, oldest due first.

Counts over days come from `followups_daily` (rates from summed counts, never averaged daily
rates), what is open and overdue now from `followups_open` (the same counts, alone: they read
every day ever raised); the median time to contact over a range from `followup_versions` (each
follow-up's present version, no grouping), the queue from `followup_queue`, one row per
follow-up. "Overdue" and "open" are as of now, whatever the time range: a follow-up raised last
month and still not handled is exactly what this dashboard is for.
"""

from __future__ import annotations

from typing import Any

from touchpulse.core.metrics import weighted_quantile_sql
from touchpulse.dashboards import variables
from touchpulse.dashboards.model import Context, dashboard, override, stat, table, thresholds, timeseries
from touchpulse.dashboards.sql import any_of, where

UID = "touchpulse-closed-loop"
IN_TIME = "sum(closed_in_time) / nullIf(sum(raised), 0)"
CLOSE_RATE = "sum(closed) / nullIf(sum(raised), 0)"
OVERDUE_ROWS = 200


def overdue_days(ctx: Context, tp: str, limit: int) -> str:
    """A condition on `day` that keeps the `limit` overdue follow-ups due first (the queue panel's
    rows) and reads only a few days of the queue, not every follow-up ever raised (a year of 4M
    took a minute). The days come from followups_open, whose counts are cheap: first the days
    that hold the first `limit` overdue follow-ups; the latest due time T among those `limit`
    due first is no earlier than the overall `limit`-th; every follow-up due by T was raised by
    T (followup_hours >= 0), so the days with any overdue follow-up up to T's day hold them all.
    The per-day counts are one scalar subquery, written identically wherever it is needed: the
    engine computes it once per query (it read every open follow-up twice before, 0.1 s each)."""
    now, queue = ctx.view("followups_open"), ctx.view("followup_queue")
    per_day = (f"(SELECT (groupArray(day), groupArray(o)) FROM (SELECT day, sum(overdue) AS o FROM {now} "
               f"WHERE {tp} GROUP BY day HAVING o > 0 ORDER BY day))")
    days, counts = f"tupleElement({per_day}, 1)", f"tupleElement({per_day}, 2)"
    before = f"arrayMap((c, s) -> s - c, {counts}, arrayCumSum({counts}))"
    first = f"SELECT arrayJoin(arrayFilter((d, b) -> b < {int(limit)}, {days}, {before}))"
    latest_due = (f"SELECT max(due_at) FROM (SELECT due_at FROM {queue} WHERE overdue = 1 AND {tp} "
                  f"AND day IN ({first}) ORDER BY due_at LIMIT {int(limit)})")
    return f"day IN (SELECT arrayJoin(arrayFilter(d -> d <= toDate(({latest_due}), {ctx.tz()}), {days})))"


def build(ctx: Context) -> dict[str, Any]:
    tp = any_of("touchpoint", "touchpoint")
    f = ["$__dateFilter(day)", tp]
    daily, now, queue = ctx.view("followups_daily"), ctx.view("followups_open"), ctx.view("followup_queue")
    # Exact, from each follow-up's present version (followup_versions): the queue would group
    # every follow-up of the range first (0.2-0.3 s for 30 days of 350,000).
    median_contact = weighted_quantile_sql("sumMap([assumeNotNull(contact_hours)], [n])", 0.5)
    rate_steps = thresholds((None, "red"), (0.6, "orange"), (0.8, "green"))
    items = [
        stat(ctx, "Raised", "Follow-ups raised by low answers on the selected days.", f"""
            SELECT sum(raised) AS "Raised"
            FROM {daily}
            {where(*f)}""", width=4),
        stat(ctx, "Open now", "Follow-ups not closed, whenever they were raised.", f"""
            SELECT sum(open) AS "Open now"
            FROM {now}
            {where(tp)}""", width=4),
        stat(ctx, "Overdue now", "Open follow-ups past their due time, whenever they were raised.", f"""
            SELECT sum(overdue) AS "Overdue now"
            FROM {now}
            {where(tp)}""", steps=thresholds((None, "green"), (1, "orange"), (25, "red")), width=4),
        stat(ctx, "Closed in time", "Closed within the touchpoint's followup_hours / raised.", f"""
            SELECT {IN_TIME} AS "Closed in time"
            FROM {daily}
            {where(*f)}""", unit="percentunit", decimals=1, steps=rate_steps, width=4),
        stat(ctx, "Median time to contact", "Hours from the answer to the first contact that reached the customer "
                                            "(exact, contacted follow-ups only).", f"""
            SELECT {median_contact} AS "Median time to contact"
            FROM {ctx.view('followup_versions')}
            {where(*f, 'contact_hours IS NOT NULL')}""", unit="h", decimals=1, width=4),
        stat(ctx, "Won back", "Closed follow-ups whose customer answered 9-10 at the same touchpoint within "
                              "30 days of the closing.", f"""
            SELECT sum(recovered) AS "Won back"
            FROM {daily}
            {where(*f)}""", steps=thresholds((None, "text"), (1, "green")), width=4),
        timeseries(ctx, "Closed in time by touchpoint", "Share of each day's follow-ups closed within their due "
                                                         "time (so far).", f"""
            SELECT {ctx.day_time()} AS time, touchpoint, {IN_TIME} AS in_time_rate
            FROM {daily}
            {where(*f)}
            GROUP BY time, touchpoint
            ORDER BY time""", long_by="touchpoint", unit="percentunit", min_val=0, max_val=1, width=12),
        timeseries(ctx, "Open and overdue by day raised", "Follow-ups of each day still open, and of those past due.",
                   f"""
            SELECT {ctx.day_time()} AS time, sum(open) AS "Open", sum(overdue) AS "Overdue"
            FROM {daily}
            {where(*f)}
            GROUP BY time
            ORDER BY time""", width=12),
        table(ctx, "Touchpoints, most overdue first", "Over the selected days; open and overdue as of now.", f"""
            SELECT touchpoint AS "Touchpoint", sum(raised) AS "Raised", sum(open) AS "Open",
                sum(overdue) AS "Overdue", round({CLOSE_RATE}, 3) AS "Closed", round({IN_TIME}, 3) AS "Closed in time",
                sum(contacted) AS "Contacted", sum(recovered) AS "Won back"
            FROM {daily}
            {where(*f)}
            GROUP BY touchpoint
            ORDER BY "Overdue" DESC, touchpoint""", width=24, height=8, overrides=[
                override("byName", "Closed", unit="percentunit"),
                override("byName", "Closed in time", unit="percentunit", thresholds=rate_steps,
                         custom__cellOptions={"type": "color-text"})]),
        table(ctx, "Overdue follow-ups, oldest due first",
              "Every open follow-up past its due time, whatever the time range, with what the customer said.", f"""
            SELECT due_at AS "Due", touchpoint AS "Touchpoint", customer_id AS "Customer", score AS "Score",
                state AS "State", owner AS "Owner", comment AS "Comment", followup_id AS "Follow-up"
            FROM {queue}
            {where('overdue = 1', tp, overdue_days(ctx, tp, OVERDUE_ROWS))}
            ORDER BY due_at ASC, followup_id
            LIMIT {OVERDUE_ROWS}""", width=24, height=12, overrides=[override("byName", "Comment", custom__width=480)]),
    ]
    return dashboard(ctx, uid=UID, title="Closed loop",
                     description="Follow-ups of low scores: the call-back queue, in-time rate, time to contact "
                                 "and customers won back",
                     tags=["touchpulse", "nps", "followups"], items=items, variables=[variables.touchpoint(ctx)])
