"""The metric arithmetic of docs/metrics.md, written once: as SQL expressions for the views and
the dashboards, and as Python for the daily report, side by side so that a test can hold them
to the same numbers (tests/unit/core/test_metrics.py).

Every function takes count expressions (column names or SQL) and returns SQL; a ratio whose
denominator is 0 is NULL, never 0 and never NaN.
"""

from __future__ import annotations

import math

Z95 = 1.96


# --- SQL ----------------------------------------------------------------------------------------

def nps_sql(p: str, d: str, n: str) -> str:
    """100 * (promoters - detractors) / responses."""
    return f"if({n} = 0, NULL, 100 * (toInt64({p}) - toInt64({d})) / {n})"


def nps_moe_sql(p: str, d: str, n: str) -> str:
    """196 * sqrt((P + D - (P - D)^2) / n) with P = p/n, D = d/n, rewritten over integer counts as
    196 * sqrt(((p + d) * n - (p - d)^2) / n^3): never negative, so never NaN."""
    return (f"if({n} = 0, NULL, 196 * sqrt(greatest(toFloat64({p} + {d}) * {n} "
            f"- pow(toFloat64(toInt64({p}) - toInt64({d})), 2), 0) / pow(toFloat64({n}), 3)))")


def ratio_sql(numerator: str, denominator: str) -> str:
    return f"if({denominator} = 0, NULL, {numerator} / {denominator})"


def weighted_quantile_sql(pairs: str, q: float) -> str:
    """The q-quantile of values given as `pairs` = (sorted values, their counts), as sumMap
    returns them, interpolating linearly between the two closest ranks (numpy's default,
    PERCENTILE.INC), exactly as quantileExactInclusive would over the expanded values; NULL when
    the counts add up to 0. Rank r (0-based) is the first value whose running count exceeds r."""
    cs = f"arrayCumSum(tupleElement({pairs}, 2))"
    total = f"arrayReduce('sum', tupleElement({pairs}, 2))"
    h = f"(({total} - 1) * {q!r})"
    lo = f"toUInt64(floor({h}))"
    v_lo = f"tupleElement({pairs}, 1)[arrayFirstIndex(c -> c > {lo}, {cs})]"
    v_hi = f"tupleElement({pairs}, 1)[arrayFirstIndex(c -> c > least({lo} + 1, {total} - 1), {cs})]"
    return f"if({total} = 0, NULL, {v_lo} + ({h} - {lo}) * ({v_hi} - {v_lo}))"


# --- Python (the report) ------------------------------------------------------------------------

def nps(promoters: int, detractors: int, responses: int) -> tuple[float, float] | None:
    """(nps, 95 % margin) in points, or None for no responses: the same formulas as the SQL."""
    if responses <= 0:
        return None
    p, d = promoters / responses, detractors / responses
    return 100 * (p - d), 100 * Z95 * math.sqrt(max(p + d - (p - d) ** 2, 0.0) / responses)


def weighted_quantile(pairs: list[tuple[float, int]], q: float) -> float | None:
    """The Python twin of weighted_quantile_sql (values with counts, any order)."""
    pairs = sorted((v, n) for v, n in pairs if n)
    total = sum(n for _, n in pairs)
    if total <= 0:
        return None
    h = (total - 1) * q
    lo = math.floor(h)

    def at(rank: int) -> float:
        running = 0
        for value, n in pairs:
            running += n
            if running > rank:
                return value
        return pairs[-1][0]

    return at(lo) + (h - lo) * (at(min(lo + 1, total - 1)) - at(lo))
