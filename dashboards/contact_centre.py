"""Contact centre: service level against its goal, speed of answer, abandonment, the slowest
waits, and missed calls by hour of day (where a lunch-hour staffing gap shows); then first-contact
resolution, call-backs, the duty list and the agents (resolution.py)."""

from __future__ import annotations

from typing import Any

from touchpulse.dashboards import resolution, variables
from touchpulse.dashboards.model import (Context, barchart, colored, dashboard, override, stat, table, thresholds,
                                         timeseries)
from touchpulse.core.metrics import weighted_quantile_sql
from touchpulse.dashboards.sql import any_of, where

UID = "touchpulse-contact-centre"

# Ratios from summed counts; a denominator of 0 gives NULL, as the contract says.
SERVICE_LEVEL = ("sum(answered_in_sla) / nullIf(toInt64(sum(offered)) - toInt64(sum(short_abandoned)), 0)")
ABANDON_RATE = ("(toInt64(sum(abandoned)) - toInt64(sum(short_abandoned)))"
                " / nullIf(toInt64(sum(offered)) - toInt64(sum(short_abandoned)), 0)")
ASA = "sum(asa_seconds * answered) / nullIf(sum(answered), 0)"


def build(ctx: Context) -> dict[str, Any]:
    f = ["$__dateFilter(day)", any_of("touchpoint", "touchpoint")]
    daily = ctx.view("calls_daily")
    target = ctx.service_level_target
    sl_steps = thresholds((None, "red"), (target, "green"))
    items = [
        stat(ctx, "Service level", f"Answered within target time / (offered - short abandons); goal {target:.0%}.",
             f"""
            SELECT {SERVICE_LEVEL} AS "Service level"
            FROM {daily}
            {where(*f)}""", unit="percentunit", decimals=1, steps=sl_steps),
        stat(ctx, "Average speed of answer", "Mean wait of answered calls.", f"""
            SELECT {ASA} AS "ASA"
            FROM {daily}
            {where(*f)}""", unit="s", decimals=1,
             steps=thresholds((None, "green"), (30, "orange"), (60, "red"))),
        stat(ctx, "Abandonment", "Callers who gave up after the short-abandon grace time.", f"""
            SELECT {ABANDON_RATE} AS "Abandonment"
            FROM {daily}
            {where(*f)}""", unit="percentunit", decimals=1,
             steps=thresholds((None, "green"), (0.05, "orange"), (0.1, "red"))),
        stat(ctx, "Wait p90", "90 % of answered callers waited at most this long (exact, over the range).", f"""
            SELECT {weighted_quantile_sql('sumMap([seconds], [calls])', 0.9)} AS "Wait p90"
            FROM {ctx.view('call_waits')}
            {where("kind = 'wait'", *f)}""",
             unit="s", decimals=0, steps=thresholds((None, "green"), (60, "orange"), (120, "red"))),
        stat(ctx, "Offered calls", "Inbound calls offered.", f"""
            SELECT sum(offered) AS "Offered", sum(answered) AS "Answered"
            FROM {daily}
            {where(*f)}""", width=8),
        timeseries(ctx, "Service level by touchpoint", f"Per day; the red line is the {target:.0%} goal.", f"""
            SELECT {ctx.day_time()} AS time, touchpoint, {SERVICE_LEVEL} AS service_level
            FROM {daily}
            {where(*f)}
            GROUP BY time, touchpoint
            ORDER BY time""", long_by="touchpoint", unit="percentunit", min_val=0, max_val=1,
                   threshold_line=True, steps=thresholds((None, "red"), (target, "transparent")), width=12),
        timeseries(ctx, "Abandonment by touchpoint", "Per day.", f"""
            SELECT {ctx.day_time()} AS time, touchpoint, {ABANDON_RATE} AS abandon_rate
            FROM {daily}
            {where(*f)}
            GROUP BY time, touchpoint
            ORDER BY time""", long_by="touchpoint", unit="percentunit", min_val=0, width=12),
        timeseries(ctx, "Average speed of answer by touchpoint", "Per day.", f"""
            SELECT {ctx.day_time()} AS time, touchpoint, {ASA} AS asa
            FROM {daily}
            {where(*f)}
            GROUP BY time, touchpoint
            ORDER BY time""", long_by="touchpoint", unit="s", width=12),
        timeseries(ctx, "Wait p90 by touchpoint", "90th percentile of the wait of answered calls, per day.", f"""
            SELECT {ctx.day_time()} AS time, touchpoint, max(wait_p90_seconds) AS wait_p90
            FROM {daily}
            {where(*f)}
            GROUP BY time, touchpoint
            ORDER BY time""", long_by="touchpoint", unit="s", width=12),
        barchart(ctx, "Missed calls by hour of day",
                 "Calls offered in each local hour over the selected days; a gap in staffing shows as a spike "
                 "of missed calls.", f"""
            SELECT leftPad(toString(hour), 2, '0') AS "Hour", sum(answered) AS "Answered",
                sum(unanswered) AS "Missed"
            FROM {ctx.view('calls_hourly')}
            {where(*f)}
            GROUP BY hour
            ORDER BY hour""", x_field="Hour", stacked=True, width=14, height=9, overrides=colored(("Answered", "green"), ("Missed", "red"))),
        table(ctx, "Touchpoints, lowest service level first", "Over the selected days.", f"""
            SELECT touchpoint AS "Touchpoint", sum(offered) AS "Offered", sum(answered) AS "Answered",
                round({SERVICE_LEVEL}, 3) AS "Service level", round({ABANDON_RATE}, 3) AS "Abandonment",
                round({ASA}, 1) AS "ASA (s)", round(max(wait_p90_seconds), 1) AS "Worst daily wait p90 (s)"
            FROM {daily}
            {where(*f)}
            GROUP BY touchpoint
            ORDER BY "Service level" ASC, touchpoint""", width=10, height=9, overrides=[
                override("byName", "Service level", unit="percentunit", thresholds=sl_steps,
                         custom__cellOptions={"type": "color-text"}),
                override("byName", "Abandonment", unit="percentunit")]),
        *resolution.items(ctx, f),
    ]
    return dashboard(ctx, uid=UID, title="Contact centre",
                     description="Service level against target, speed of answer, abandonment, missed calls, "
                                 "first-contact resolution, call-backs and agents",
                     tags=["touchpulse", "calls"], items=items, variables=[variables.touchpoint(ctx)])
