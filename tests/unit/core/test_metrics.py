"""The metric arithmetic of touchpulse/core/metrics.py: its SQL (run on the real engine) and its
Python (the report's) give the same numbers, and both match the contract's formulas."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from touchpulse.core import metrics


def contract_nps(p: int, d: int, n: int) -> tuple[float, float]:
    P, D = p / n, d / n
    return 100 * (P - D), 196 * math.sqrt((P + D - (P - D) ** 2) / n)


@given(st.integers(0, 5000), st.integers(0, 5000), st.integers(0, 5000))
def test_python_nps_is_the_contract_formula(p, d, extra):
    n = p + d + extra
    if n == 0:
        assert metrics.nps(p, d, n) is None
        return
    got, want = metrics.nps(p, d, n), contract_nps(p, d, n)
    assert got[0] == pytest.approx(want[0]) and got[1] == pytest.approx(want[1], abs=1e-9)


def test_sql_nps_and_margin_agree_with_python(chdb_client):
    rng = random.Random(3)
    cases = [(0, 0, 0), (1, 0, 1), (0, 1, 1), (5, 5, 10), (100, 0, 100)] + \
        [(a, b, a + b + rng.randrange(50)) for a, b in ((rng.randrange(80), rng.randrange(80)) for _ in range(40))]
    values = ", ".join(f"({p}, {d}, {n})" for p, d, n in cases)
    rows = chdb_client.query(f"SELECT {metrics.nps_sql('p', 'd', 'n')}, {metrics.nps_moe_sql('p', 'd', 'n')} "
                             f"FROM (SELECT c.1 AS p, c.2 AS d, c.3 AS n FROM (SELECT arrayJoin([{values}]) AS c))"
                             ).result_rows
    for (p, d, n), (nps, moe) in zip(cases, rows):
        py = metrics.nps(p, d, n)
        if py is None:
            assert nps is None and moe is None
        else:
            assert nps == pytest.approx(py[0]) and moe == pytest.approx(py[1], abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 5)), min_size=1, max_size=40),
       st.sampled_from([0.5, 0.9, 0.99]))
def test_weighted_quantile_is_quantile_exact_inclusive_of_the_expanded_values(chdb_client, pairs, q):
    """The percentile of (value, count) pairs equals ClickHouse's quantileExactInclusive over the
    values repeated, in SQL and in Python."""
    expanded = [v for v, n in pairs for _ in range(n)]
    keys = ", ".join(str(v) for v, _ in pairs)
    counts = ", ".join(str(n) for _, n in pairs)
    sql_pairs = f"sumMap([{keys}], [{counts}])"
    got, want = chdb_client.query(
        f"SELECT {metrics.weighted_quantile_sql(sql_pairs, q)}, "
        f"(SELECT quantileExactInclusive({q})(x) FROM (SELECT arrayJoin([{', '.join(map(str, expanded))}]) AS x))"
    ).result_rows[0]
    assert got == pytest.approx(want)
    assert metrics.weighted_quantile(pairs, q) == pytest.approx(want)


def test_weighted_quantile_of_nothing_is_null(chdb_client):
    assert metrics.weighted_quantile([], 0.9) is None
    assert metrics.weighted_quantile([(5, 0)], 0.9) is None
    [(v,)] = chdb_client.query(f"SELECT {metrics.weighted_quantile_sql('([5], [0])', 0.9)}").result_rows
    assert v is None
