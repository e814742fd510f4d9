"""Template variables shared by the dashboards.

The touchpoint list is the registry's slugs *plus* whatever touchpoints the data shows in
the selected time range (`touchpoint_activity`), so a touchpoint that starts sending events
appears in the dropdown, in `All`, and in repeated rows without a rebuild.
"""

from __future__ import annotations

from typing import Any

from touchpulse.dashboards.model import Context, custom_variable, query_variable, sql_string

KINDS = ["transactional", "relationship"]


def touchpoint(ctx: Context) -> dict[str, Any]:
    known = ", ".join(sql_string(t) for t in ctx.touchpoints)
    listed = f"SELECT arrayJoin([{known}]) AS touchpoint UNION DISTINCT " if known else ""
    sql = (f"SELECT touchpoint FROM ({listed}SELECT DISTINCT touchpoint FROM {ctx.view('touchpoint_activity')} "
           f"WHERE $__dateFilter(day)) ORDER BY touchpoint")
    return query_variable(ctx, "touchpoint", "Touchpoint", sql,
                          description="Registry touchpoints and any touchpoint seen in the data")


def brand(ctx: Context) -> dict[str, Any]:
    sql = (f"SELECT brand FROM (SELECT 'own' AS brand UNION DISTINCT SELECT DISTINCT brand "
           f"FROM {ctx.view('nps_daily')} WHERE $__dateFilter(day)) ORDER BY brand")
    return query_variable(ctx, "brand", "Brand", sql, default=["own"],
                          description="'own' is the company; other brands come from competitor benchmark surveys")


def kind() -> dict[str, Any]:
    return custom_variable("kind", "Survey kind", KINDS,
                           description="transactional = asked right after an interaction")


def platform(ctx: Context) -> dict[str, Any]:
    sql = (f"SELECT DISTINCT platform FROM {ctx.view('reviews_daily')} WHERE $__dateFilter(day) "
           f"ORDER BY platform")
    return query_variable(ctx, "platform", "Review platform", sql)


def currency(ctx: Context) -> dict[str, Any]:
    """Single-valued: money is never summed across currencies."""
    sql = (f"SELECT DISTINCT currency FROM {ctx.view('purchases_daily')} WHERE $__dateFilter(day) "
           f"ORDER BY currency")
    return query_variable(ctx, "currency", "Currency", sql, multi=False, include_all=False)
