"""NPS overview: the score with its margin of error, its mix, the worst touchpoints first,
the competitor benchmark and what unhappy customers actually wrote."""

from __future__ import annotations

from typing import Any

from touchpulse.dashboards import variables
from touchpulse.dashboards.model import (Context, Row, barchart, colored, dashboard, override, piechart, stat, table,
                                         thresholds, timeseries)
from touchpulse.dashboards.sql import any_of, newest_days, nps_counts, time_filter_on_days, where

UID = "touchpulse-nps"
LATEST_ROWS = 100
NPS_STEPS = thresholds((None, "red"), (0, "orange"), (30, "green"))
SEGMENTS = colored(("Promoters", "green"), ("Passives", "yellow"), ("Detractors", "red"))


def filters(*, touchpoint: bool = True, brand: bool = True, kind: bool = True) -> list[str]:
    out = ["$__dateFilter(day)"]
    if touchpoint:
        out.append(any_of("touchpoint", "touchpoint"))
    if brand:
        out.append(any_of("brand", "brand"))
    if kind:
        out.append(any_of("kind", "kind"))
    return out


def nps_band_sql(ctx: Context, conditions: list[str]) -> str:
    """NPS per day with its 95 % band, from that day's counts."""
    counts = nps_counts(ctx.view("nps_daily"), conditions, ["day"])
    return f"""
        SELECT {ctx.day_time()} AS time, nps AS "NPS", nps - moe AS "Low (95 %)", nps + moe AS "High (95 %)"
        FROM {counts}
        ORDER BY time"""


BAND_OVERRIDES = [
    override("byName", "High (95 %)", custom__fillBelowTo="Low (95 %)", custom__lineWidth=0,
             color={"fixedColor": "blue", "mode": "fixed"}),
    override("byName", "Low (95 %)", custom__lineWidth=0, custom__fillOpacity=0,
             color={"fixedColor": "blue", "mode": "fixed"}),
    override("byName", "NPS", color={"fixedColor": "dark-blue", "mode": "fixed"}),
]


def build(ctx: Context) -> dict[str, Any]:
    f = filters()
    latest = [time_filter_on_days('occurred_at'), "comment != ''", *f[1:]]
    overall = nps_counts(ctx.view("nps_daily"), f, [])
    items = [
        stat(ctx, "NPS", "Net Promoter Score over the selected days, computed from the summed answers.", f"""
            SELECT round(nps, 1) AS "NPS", round(moe, 1) AS "± margin (95 %)", n AS "Responses"
            FROM {overall}""", steps=NPS_STEPS, width=8, height=5,
             overrides=colored(("Responses", "text"), ("± margin (95 %)", "text"))),
        piechart(ctx, "Promoters, passives, detractors", "Scores 9-10, 7-8 and 0-6.", f"""
            SELECT sum(promoters) AS "Promoters", sum(passives) AS "Passives", sum(detractors) AS "Detractors"
            FROM {ctx.view('nps_daily')}
            {where(*f)}""", width=6, height=5, overrides=SEGMENTS),
        timeseries(ctx, "NPS by day, with its margin of error",
                   "The band is the 95 % margin of error: a day inside yesterday's band is noise, not news.",
                   nps_band_sql(ctx, f), decimals=1, overrides=BAND_OVERRIDES, width=10, height=5),
        timeseries(ctx, "NPS by touchpoint, rolling 7 days",
                   "Each point is the NPS of the 7 days ending that day (view nps_rolling_7d).", f"""
            SELECT {ctx.day_time()} AS time, touchpoint, nps
            FROM {nps_counts(ctx.view('nps_rolling_7d'), f, ['day', 'touchpoint'])}
            ORDER BY time""", long_by="touchpoint", decimals=1, width=24, height=8),
        table(ctx, "Touchpoints, worst NPS first",
              "Low and High bound the 95 % margin of error; rank by Low before calling a touchpoint the worst.",
              f"""
            SELECT touchpoint AS "Touchpoint", n AS "Responses", round(nps, 1) AS "NPS",
                round(moe, 1) AS "± margin", round(nps - moe, 1) AS "Low", round(nps + moe, 1) AS "High",
                round(100 * p / n, 1) AS "Promoters %", round(100 * d / n, 1) AS "Detractors %"
            FROM {nps_counts(ctx.view('nps_daily'), f, ['touchpoint'])}
            ORDER BY nps ASC, touchpoint""", width=14, height=10,
              overrides=[override("byName", "NPS", custom__cellOptions={"type": "color-text"},
                                  thresholds=NPS_STEPS)]),
        barchart(ctx, "Competitor benchmark by brand",
                 "NPS by brand over the same days and survey kinds; hover a bar for its margin of error.", f"""
            SELECT brand AS "Brand", round(nps, 1) AS "NPS", round(moe, 1) AS "± margin", n AS "Responses"
            FROM {nps_counts(ctx.view('nps_daily'), filters(touchpoint=False, brand=False), ['brand'])}
            ORDER BY nps DESC, brand""", x_field="Brand", width=10, height=10, overrides=[
                override("byName", "Responses", custom__hideFrom={"legend": True, "tooltip": False, "viz": True}),
                override("byName", "± margin", custom__hideFrom={"legend": True, "tooltip": False, "viz": True}),
            ]),
        timeseries(ctx, "Promoters, passives and detractors by day", "Answers per day, stacked.", f"""
            SELECT {ctx.day_time()} AS time, sum(promoters) AS "Promoters", sum(passives) AS "Passives",
                sum(detractors) AS "Detractors"
            FROM {ctx.view('nps_daily')}
            {where(*f)}
            GROUP BY time
            ORDER BY time""", bars=True, stacked=True, width=24, height=7, overrides=SEGMENTS),
        Row("What customers said"),
        table(ctx, "Latest follow-ups with comments",
              "Low scores that raised a call-back, newest first; Status is the team's (new, assigned, contacted, "
              "closed) or overdue past the due time.", f"""
            SELECT occurred_at AS "Answered", touchpoint AS "Touchpoint", brand AS "Brand", score AS "Score",
                comment AS "Comment", due_at AS "Due", multiIf(state = 'closed', concat('closed: ', resolution), overdue = 1, 'overdue', state) AS "Status"
            FROM {ctx.view('followups_latest')}
            {where(*latest, newest_days(ctx.view('followup_versions'), latest, LATEST_ROWS))}
            ORDER BY occurred_at DESC
            LIMIT {LATEST_ROWS}""", width=24, height=12, overrides=[
                override("byName", "Comment", custom__width=640),
                override("byName", "Status", custom__cellOptions={"type": "color-text"},
                         mappings=[{"options": {"overdue": {"color": "red", "index": 0},
                                                "new": {"color": "text", "index": 1}}, "type": "value"},
                                   {"options": {"pattern": "^closed", "result": {"color": "green", "index": 2}},
                                    "type": "regex"}])]),
    ]
    return dashboard(ctx, uid=UID, title="NPS overview",
                     description="Net Promoter Score with its margin of error, by touchpoint and brand",
                     tags=["touchpulse", "nps"], items=items,
                     variables=[variables.touchpoint(ctx), variables.brand(ctx), variables.kind()])
