"""Touchpoint drill-down: one row per touchpoint, repeated over the touchpoint variable.

The row repeats over whatever the variable offers, and the variable offers every touchpoint
the data shows, so a new touchpoint gets its own row on the next page load. Panels inside the
row filter on the row's own value (`one_of`), never on `All`.
"""

from __future__ import annotations

from typing import Any

from touchpulse.dashboards import variables
from touchpulse.dashboards.contact_centre import SERVICE_LEVEL
from touchpulse.dashboards.model import Context, Row, dashboard, override, stat, table, thresholds, timeseries
from touchpulse.dashboards.nps import BAND_OVERRIDES, NPS_STEPS, nps_band_sql
from touchpulse.dashboards.sql import any_of, newest_days, nps_counts, one_of, time_filter_on_days, where

UID = "touchpulse-touchpoint"
LATEST_ROWS = 20


def build(ctx: Context) -> dict[str, Any]:
    tp = one_of("touchpoint", "touchpoint")
    nps_f = ["$__dateFilter(day)", tp, any_of("brand", "brand"), any_of("kind", "kind")]
    day_f = ["$__dateFilter(day)", tp]
    latest = [time_filter_on_days('occurred_at'), tp]
    target = ctx.service_level_target
    items = [
        Row("$touchpoint", repeat="touchpoint"),
        stat(ctx, "NPS", "NPS over the selected days for this touchpoint.", f"""
            SELECT round(nps, 1) AS "NPS", round(moe, 1) AS "± margin", n AS "Responses"
            FROM {nps_counts(ctx.view('nps_daily'), nps_f, [])}""", steps=NPS_STEPS, width=5, height=6),
        timeseries(ctx, "NPS by day", "With the 95 % margin of error as a band.", nps_band_sql(ctx, nps_f),
                   decimals=1, overrides=BAND_OVERRIDES, width=7, height=6),
        timeseries(ctx, "Service level", f"Share of calls answered within the touchpoint's target time; "
                   f"the line is the {target:.0%} goal.", f"""
            SELECT {ctx.day_time()} AS time,
                {SERVICE_LEVEL} AS "Service level"
            FROM {ctx.view('calls_daily')}
            {where(*day_f)}
            GROUP BY time
            ORDER BY time""", unit="percentunit", min_val=0, max_val=1, threshold_line=True,
                   steps=thresholds((None, "red"), (target, "green")), width=6, height=6),
        timeseries(ctx, "Calls", "Inbound calls offered and answered per day.", f"""
            SELECT {ctx.day_time()} AS time, sum(offered) AS "Offered", sum(answered) AS "Answered"
            FROM {ctx.view('calls_daily')}
            {where(*day_f)}
            GROUP BY time
            ORDER BY time""", bars=True, width=6, height=6),
        timeseries(ctx, "Reviews", "Average rating (stars) and share of reviews answered, per day.", f"""
            SELECT {ctx.day_time()} AS time, sum(avg_rating * reviews) / sum(reviews) AS "Rating",
                sum(replied) / sum(reviews) AS "Reply rate"
            FROM {ctx.view('reviews_daily')}
            {where(*day_f)}
            GROUP BY time
            ORDER BY time""", decimals=2, width=8, height=6, overrides=[
                override("byName", "Reply rate", unit="percentunit", custom__axisPlacement="right")]),
        timeseries(ctx, "Orders and average check", "Completed orders per day, and revenue per order.", f"""
            SELECT {ctx.day_time()} AS time, sum(orders) AS "Orders", sum(revenue) / sum(orders) AS "Average check"
            FROM {ctx.view('purchases_daily')}
            {where(*day_f)}
            GROUP BY time
            ORDER BY time""", width=8, height=6, overrides=[
                override("byName", "Average check", custom__axisPlacement="right", decimals=2)]),
        table(ctx, "Latest follow-ups", "Low scores at this touchpoint, newest first.", f"""
            SELECT occurred_at AS "Answered", score AS "Score", comment AS "Comment", due_at AS "Due",
                multiIf(state = 'closed', concat('closed: ', resolution), overdue = 1, 'overdue', state) AS "Status"
            FROM {ctx.view('followups_latest')}
            {where(*latest, newest_days(ctx.view('followup_versions'), latest, LATEST_ROWS))}
            ORDER BY occurred_at DESC
            LIMIT {LATEST_ROWS}""", width=8, height=6),
    ]
    return dashboard(ctx, uid=UID, title="Touchpoint drill-down",
                     description="Every metric of one touchpoint side by side; one row per touchpoint",
                     tags=["touchpulse", "touchpoint"], items=items,
                     variables=[variables.touchpoint(ctx), variables.brand(ctx), variables.kind()])
