"""SQL fragments shared by the panels: variable filters, and the NPS arithmetic of
touchpulse/core/metrics.py (the one the views and the report use).

Ratios are always computed from summed counts (never by averaging daily ratios), so a
panel over 30 days says exactly what the metrics contract would say for those 30 days.
"""

from __future__ import annotations

from touchpulse.core.metrics import nps_moe_sql, nps_sql


def any_of(column: str, variable: str) -> str:
    """Filter on a multi-value variable; `All` becomes 1=1, so values new in the data still show."""
    return f"$__conditionalAll({column} IN (${{{variable}:singlequote}}), ${variable})"


def one_of(column: str, variable: str) -> str:
    """Filter on the single value a repeated row is scoped to (conditionalAll would see `All`)."""
    return f"{column} IN (${{{variable}:singlequote}})"


def time_filter_on_days(column: str) -> str:
    """`$__timeFilter(column)` for a view with a business `day` column too: the same rows, but
    the filter on `day` (a day either side: business days are local, the range is UTC) reaches
    the table's key through the view, so a panel reads the days of its range, not all history."""
    return f"day >= toDate($__fromTime, 'UTC') - 1 AND day <= toDate($__toTime, 'UTC') + 1 AND $__timeFilter({column})"


def newest_days(versions: str, conditions: list[str], limit: int) -> str:
    """A condition on `day` that keeps the days holding the `limit` newest follow-ups matching
    `conditions` (a "latest" panel's rows) and drops the older days of its range, which the
    queue would otherwise group follow-up by follow-up (2-3 s for 30 days of 350,000). The days
    come from `versions` (followup_versions), whose counts need no grouping: the newest days
    whose matching follow-ups, counted from the last day back, reach `limit`. The business day
    only grows with the time, so the `limit` newest rows all lie in those days."""
    per_day = f"SELECT day, sum(n) AS c FROM {versions} {where(*conditions)} GROUP BY day HAVING c > 0"
    return (f"day >= (SELECT min(day) FROM (SELECT day, sum(c) OVER (ORDER BY day DESC ROWS UNBOUNDED PRECEDING) "
            f"- c AS after FROM ({per_day})) WHERE after < {int(limit)})")


def where(*conditions: str) -> str:
    return "WHERE " + "\n  AND ".join(conditions)


def nps_expr(p: str = "p", d: str = "d", n: str = "n") -> str:
    return nps_sql(p, d, n)


def moe_expr(p: str = "p", d: str = "d", n: str = "n") -> str:
    """The contract's 95 % margin of error of an NPS, from promoter/detractor counts."""
    return nps_moe_sql(p, d, n)


def nps_counts(source: str, conditions: list[str], group: list[str]) -> str:
    """A subquery with p, ps, d, n (+ the group columns) and nps, moe computed from them."""
    keys = "".join(f"{g}, " for g in group)
    group_by = f"\n    GROUP BY {', '.join(group)}" if group else ""
    return f"""(
    SELECT {keys}p, ps, d, n,
        {nps_expr()} AS nps,
        {moe_expr()} AS moe
    FROM (
        SELECT {keys}sum(promoters) AS p, sum(passives) AS ps, sum(detractors) AS d, sum(responses) AS n
        FROM {source}
        {where(*conditions)}{group_by}
    )
)"""
