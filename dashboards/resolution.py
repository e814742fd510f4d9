"""The contact centre as the industry measures it: first-contact resolution, call-backs to missed
callers (and the hour of day where they fail), the duty list of callers still owed a call, and
the agents. Panels of the contact-centre dashboard, built here to keep that module small.

First-contact resolution reads `fcr_settled`: a day counts only once its calls have had their
whole repeat window, otherwise the last days would always look best (nobody has called again
yet). Ratios are pooled from summed counts, as everywhere.
"""

from __future__ import annotations

from touchpulse.core.metrics import ratio_sql
from touchpulse.dashboards.model import Context, Panel, Row, barchart, colored, override, stat, table, timeseries
from touchpulse.dashboards.sql import where

FCR = ratio_sql("(toInt64(sum(answered_identified)) - toInt64(sum(repeat_contacts)))", "sum(answered_identified)")
CALLBACK_RATE = ratio_sql("sum(called_back)", "sum(missed_identified)")
FCR_NOTE = ("Answered calls of known customers that were not followed by another call of the same customer "
            "within the touchpoint's repeat window (72 h unless the registry says otherwise). Only days whose "
            "window has closed count: until then a customer may still call again.")
CALLBACK_NOTE = ("Missed callers (known customers, not short abandons) called back within the touchpoint's "
                 "call-back target (60 min unless the registry says otherwise).")
PCT = {"unit": "percentunit"}


def items(ctx: Context, f: list[str]) -> list[Panel | Row]:
    """`f`: the dashboard's filters (days in range, touchpoints chosen)."""
    settled, resolution = ctx.view("fcr_settled"), ctx.view("calls_resolution_daily")
    owed = ctx.view("missed_not_called_back")
    return [
        Row("First-contact resolution and call-backs"),
        stat(ctx, "First-contact resolution", FCR_NOTE, f"""
            SELECT {FCR} AS "First-contact resolution"
            FROM {settled}
            {where(*f)}""", unit="percentunit", decimals=1, width=6),
        stat(ctx, "Repeat contacts", "Answered calls followed by another call of the same customer within the "
             "repeat window, on the settled days.", f"""
            SELECT sum(repeat_contacts) AS "Repeat contacts", sum(answered_identified) AS "Of answered"
            FROM {settled}
            {where(*f)}""", width=6),
        stat(ctx, "Called back in time", CALLBACK_NOTE, f"""
            SELECT {CALLBACK_RATE} AS "Called back in time"
            FROM {resolution}
            {where(*f)}""", unit="percentunit", decimals=1, width=6),
        stat(ctx, "Missed callers not called back in time", "Known customers missed (not short abandons) "
             "with no call-back within the target, over the selected days.", f"""
            SELECT toInt64(sum(missed_identified)) - toInt64(sum(called_back)) AS "Not called back",
                sum(missed_identified) AS "Of missed"
            FROM {resolution}
            {where(*f)}""", width=6),
        timeseries(ctx, "First-contact resolution by touchpoint", FCR_NOTE + " Per day.", f"""
            SELECT {ctx.day_time()} AS time, touchpoint, {FCR} AS fcr
            FROM {settled}
            {where(*f)}
            GROUP BY time, touchpoint
            ORDER BY time""", long_by="touchpoint", unit="percentunit", min_val=0, max_val=1, width=12),
        timeseries(ctx, "Call-back rate by touchpoint", CALLBACK_NOTE + " Per day of the missed call.", f"""
            SELECT {ctx.day_time()} AS time, touchpoint, {CALLBACK_RATE} AS callback_rate
            FROM {resolution}
            {where(*f)}
            GROUP BY time, touchpoint
            ORDER BY time""", long_by="touchpoint", unit="percentunit", min_val=0, max_val=1, width=12),
        barchart(ctx, "Missed callers by hour of day: called back in time or not",
                 "By the local hour the caller was missed, over the selected days. A staffing gap shows twice: "
                 "more callers missed, and fewer of them called back in time.", f"""
            SELECT leftPad(toString(hour), 2, '0') AS "Hour", sum(called_back) AS "Called back in time",
                toInt64(sum(missed_identified)) - toInt64(sum(called_back)) AS "Not in time"
            FROM {ctx.view('callbacks_hourly')}
            {where(*f)}
            GROUP BY hour
            ORDER BY hour""", x_field="Hour", stacked=True, width=12, height=9, overrides=colored(("Called back in time", "green"), ("Not in time", "red"))),
        table(ctx, "Touchpoints, lowest first-contact resolution first",
              "Over the selected days (resolution: the settled ones).", f"""
            SELECT touchpoint AS "Touchpoint", round(any(fcr), 3) AS "FCR", any(repeats) AS "Repeat contacts",
                round({CALLBACK_RATE}, 3) AS "Called back in time", sum(missed_identified) AS "Missed",
                toInt64(sum(missed_identified)) - toInt64(sum(called_back)) AS "Not called back"
            FROM {resolution} AS r
            LEFT JOIN (
                SELECT touchpoint, {FCR} AS fcr, sum(repeat_contacts) AS repeats
                FROM {settled}
                {where(*f)}
                GROUP BY touchpoint
            ) AS s USING (touchpoint)
            {where(*f)}
            GROUP BY touchpoint
            ORDER BY "FCR" ASC NULLS LAST, touchpoint""", width=12, height=9, overrides=[
                override("byName", "FCR", **PCT), override("byName", "Called back in time", **PCT)]),
        table(ctx, "Missed callers not called back",
              "The duty list: known customers missed (not short abandons) and not called back within the target, "
              "on the last day of the selected range that has any. Called back after: empty when never.", f"""
            SELECT customer_id AS "Customer", touchpoint AS "Touchpoint", queued_at AS "Queued at",
                round(waited_seconds) AS "Waited (s)", round(called_back_after_minutes) AS "Called back after (min)"
            FROM {owed}
            {where(*f, f"day = (SELECT max(day) FROM {owed} {where(*f)})")}
            ORDER BY queued_at, customer_id
            LIMIT 500""", width=10, height=10),
        table(ctx, "Agents, lowest first-contact resolution first",
              "Answered inbound calls and handle time over the selected days; first-contact resolution over the "
              "settled days, with the calls of known customers it rests on.", f"""
            SELECT agent_id AS "Agent", touchpoint AS "Touchpoint", toUInt64(sum(answered)) AS "Answered",
                round(toFloat64(sum(handle_sum)) / nullIf(sum(answered), 0)) AS "AHT (s)",
                round({ratio_sql('(sumIf(identified, settled = 1) - sumIf(repeat_contacts, settled = 1))',
                                 'sumIf(identified, settled = 1)')}, 3) AS "FCR",
                toUInt64(sumIf(identified, settled = 1)) AS "Known callers (settled days)"
            FROM {ctx.view('agent_calls')}
            {where(*f)}
            GROUP BY agent_id, touchpoint
            HAVING sum(answered) > 0
            ORDER BY "FCR" ASC NULLS LAST, agent_id
            LIMIT 500""", width=14, height=10, overrides=[override("byName", "FCR", **PCT)]),
    ]
