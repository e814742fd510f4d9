"""Loyalty and purchases: orders, average check, repeat customers, and the monthly loyalty
view (active and lapsed customers, days between purchases, check and revenue per customer).

Money is shown for one currency at a time (the `currency` variable); counts span all."""

from __future__ import annotations

from typing import Any

from touchpulse.dashboards import variables
from touchpulse.dashboards.model import Context, dashboard, override, stat, table, timeseries
from touchpulse.dashboards.sql import any_of, where

UID = "touchpulse-loyalty"


def build(ctx: Context) -> dict[str, Any]:
    tp = any_of("touchpoint", "touchpoint")
    f = ["$__dateFilter(day)", tp]
    money = f + [any_of("currency", "currency")]  # empty (no data yet) reads as 1=1, not a syntax error
    daily = ctx.view("purchases_daily")
    monthly = ctx.view("loyalty_monthly")
    months = ["month >= toStartOfMonth(toDate($__fromTime, 'UTC'))", "month <= toDate($__toTime, 'UTC')", tp,
              any_of("currency", "currency")]
    items = [
        stat(ctx, "Orders", "Completed orders (refunded ones never count).", f"""
            SELECT sum(orders) AS "Orders"
            FROM {daily}
            {where(*f)}""", width=4),
        stat(ctx, "Revenue", "Sum of completed orders in the selected currency.", f"""
            SELECT sum(revenue) AS "Revenue"
            FROM {daily}
            {where(*money)}""", decimals=0, width=5),
        stat(ctx, "Average check", "Revenue per order in the selected currency.", f"""
            SELECT sum(revenue) / nullIf(sum(orders), 0) AS "Average check"
            FROM {daily}
            {where(*money)}""", decimals=2, width=5),
        stat(ctx, "Repeat customers", "Buyers whose first completed order ever was on an earlier day; "
             "summed over days, with their share of the day's buyers.", f"""
            SELECT sum(repeat_customers) AS "Repeat customers",
                sum(repeat_customers) / nullIf(sum(customers), 0) AS "Share of buyers"
            FROM {daily}
            {where(*f)}""", width=10, overrides=[override("byName", "Share of buyers", unit="percentunit",
                                                          decimals=1)]),
        timeseries(ctx, "Orders by touchpoint", "Completed orders per day.", f"""
            SELECT {ctx.day_time()} AS time, touchpoint, sum(orders) AS orders
            FROM {daily}
            {where(*f)}
            GROUP BY time, touchpoint
            ORDER BY time""", long_by="touchpoint", bars=True, stacked=True, width=12),
        timeseries(ctx, "Average check by touchpoint", "Revenue per order per day, selected currency.", f"""
            SELECT {ctx.day_time()} AS time, touchpoint, sum(revenue) / sum(orders) AS avg_check
            FROM {daily}
            {where(*money)}
            GROUP BY time, touchpoint
            ORDER BY time""", long_by="touchpoint", decimals=2, width=12),
        timeseries(ctx, "New and repeat customers", "Distinct buyers per day, split by whether they had "
                   "bought before.", f"""
            SELECT {ctx.day_time()} AS time, sum(repeat_customers) AS "Repeat",
                toInt64(sum(customers)) - toInt64(sum(repeat_customers)) AS "New"
            FROM {daily}
            {where(*f)}
            GROUP BY time
            ORDER BY time""", bars=True, stacked=True, width=12),
        timeseries(ctx, "Active and lapsed customers by month",
                   "Customers with a completed order in the month, and customers overdue for their next one "
                   "(summed over touchpoints, selected currency; view loyalty_monthly).", f"""
            SELECT toDateTime(month, {ctx.tz()}) AS time, sum(active_customers) AS "Active",
                sum(lapsed_customers) AS "Lapsed"
            FROM {monthly}
            {where(*months)}
            GROUP BY time
            ORDER BY time""", bars=True, width=12),
        table(ctx, "Loyalty by month and touchpoint", "From loyalty_monthly, newest month first.", f"""
            SELECT month AS "Month", touchpoint AS "Touchpoint", active_customers AS "Active customers",
                round(mean_days_between, 1) AS "Days between purchases", round(mean_check, 2) AS "Mean check",
                round(revenue_per_customer, 2) AS "Revenue per customer", lapsed_customers AS "Lapsed"
            FROM {monthly}
            {where(*months)}
            ORDER BY month DESC, touchpoint""", width=24, height=10),
    ]
    return dashboard(ctx, uid=UID, title="Loyalty and purchases",
                     description="Orders, average check, repeat customers and monthly loyalty",
                     tags=["touchpulse", "purchases"], items=items,
                     variables=[variables.touchpoint(ctx), variables.currency(ctx)], time_from="now-90d")
