"""Reviews: the rating, how many get a reply and how fast, and which are still waiting past
the touchpoint's reply target (view reviews_overdue)."""

from __future__ import annotations

from typing import Any

from touchpulse.dashboards import variables
from touchpulse.dashboards.model import Context, dashboard, override, stat, table, thresholds, timeseries
from touchpulse.core.metrics import weighted_quantile_sql
from touchpulse.dashboards.sql import any_of, where

UID = "touchpulse-reviews"
RATING_STEPS = thresholds((None, "red"), (3.5, "orange"), (4.2, "green"))


def build(ctx: Context) -> dict[str, Any]:
    tp, pf = any_of("touchpoint", "touchpoint"), any_of("platform", "platform")
    f = ["$__dateFilter(day)", tp, pf]
    daily = ctx.view("reviews_daily")
    median = weighted_quantile_sql("sumMap([hours], [reviews])", 0.5)
    items = [
        stat(ctx, "Average rating", "Mean stars over the selected days.", f"""
            SELECT sum(avg_rating * reviews) / nullIf(sum(reviews), 0) AS "Rating", sum(reviews) AS "Reviews"
            FROM {daily}
            {where(*f)}""", decimals=2, steps=RATING_STEPS, width=6,
             overrides=[override("byName", "Reviews", decimals=0, color={"fixedColor": "text", "mode": "fixed"})]),
        stat(ctx, "Reply rate", "Share of reviews with a reply.", f"""
            SELECT sum(replied) / nullIf(sum(reviews), 0) AS "Reply rate"
            FROM {daily}
            {where(*f)}""", unit="percentunit", decimals=1,
             steps=thresholds((None, "red"), (0.6, "orange"), (0.85, "green")), width=4),
        stat(ctx, "Replied in time", "Share of reviews answered within the touchpoint's reply target.", f"""
            SELECT sum(replied_in_sla) / nullIf(sum(reviews), 0) AS "Replied in time"
            FROM {daily}
            {where(*f)}""", unit="percentunit", decimals=1,
             steps=thresholds((None, "red"), (0.5, "orange"), (0.8, "green")), width=4),
        stat(ctx, "Median reply time", "Median hours from posting to reply, replied reviews only (exact).", f"""
            SELECT {median} AS "Median reply time"
            FROM {ctx.view('review_reply_times')}
            {where(*f)}""", unit="h", decimals=1,
             width=5),
        stat(ctx, "Unanswered past target", "Reviews with no reply yet, older than their reply target, now.", f"""
            SELECT count() AS "Unanswered past target"
            FROM {ctx.view('reviews_overdue')}
            {where(tp, pf)}""", steps=thresholds((None, "green"), (1, "red")), width=5),
        timeseries(ctx, "Average rating by touchpoint", "Per day.", f"""
            SELECT {ctx.day_time()} AS time, touchpoint, sum(avg_rating * reviews) / sum(reviews) AS rating
            FROM {daily}
            {where(*f)}
            GROUP BY time, touchpoint
            ORDER BY time""", long_by="touchpoint", decimals=2, min_val=1, max_val=5, width=12),
        timeseries(ctx, "Reply rate by platform", "Share of each day's reviews that got a reply (so far).", f"""
            SELECT {ctx.day_time()} AS time, platform, sum(replied) / sum(reviews) AS reply_rate
            FROM {daily}
            {where(*f)}
            GROUP BY time, platform
            ORDER BY time""", long_by="platform", unit="percentunit", min_val=0, max_val=1, width=12),
        timeseries(ctx, "Median reply time by platform", "Hours from posting to reply, by posting day.", f"""
            SELECT {ctx.day_time()} AS time, platform, {median} AS reply_hours
            FROM {ctx.view('review_reply_times')}
            {where(*f)}
            GROUP BY time, platform
            ORDER BY time""", long_by="platform", unit="h", width=12),
        table(ctx, "By platform", "Over the selected days.", f"""
            SELECT platform AS "Platform", sum(reviews) AS "Reviews",
                round(sum(avg_rating * reviews) / sum(reviews), 2) AS "Rating",
                round(sum(replied) / sum(reviews), 3) AS "Reply rate",
                round(sum(replied_in_sla) / sum(reviews), 3) AS "Replied in time"
            FROM {daily}
            {where(*f)}
            GROUP BY platform
            ORDER BY "Reply rate" ASC, platform""", width=12, overrides=[
                override("byName", "Reply rate", unit="percentunit"),
                override("byName", "Replied in time", unit="percentunit"),
                override("byName", "Rating", thresholds=RATING_STEPS, custom__cellOptions={"type": "color-text"})]),
        table(ctx, "Unanswered past target, oldest first",
              "Every review still without a reply after its touchpoint's reply target, whatever the time range.",
              f"""
            SELECT posted_at AS "Posted", touchpoint AS "Touchpoint", platform AS "Platform", rating AS "Rating",
                round(age_hours, 1) AS "Waiting (h)", target_hours AS "Target (h)", text AS "Review"
            FROM {ctx.view('reviews_overdue')}
            {where(tp, pf)}
            ORDER BY posted_at ASC
            LIMIT 200""", width=24, height=10, overrides=[override("byName", "Review", custom__width=560)]),
    ]
    return dashboard(ctx, uid=UID, title="Reviews",
                     description="Ratings, reply rate and reply time, and reviews waiting past their target",
                     tags=["touchpulse", "reviews"], items=items,
                     variables=[variables.touchpoint(ctx), variables.platform(ctx)])
