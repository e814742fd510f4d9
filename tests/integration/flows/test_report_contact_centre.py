"""The daily report's contact-centre lines over the simulated month: the missed callers nobody
called back, and first-contact resolution judged on the right day, recomputed here from the views."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from touchpulse.core.touchpoints import load_registry
from touchpulse.report.daily import write_daily_report
from touchpulse.report.data import collect
from touchpulse.report.model import verdict

from tests.integration.flows.flows_world import DB, END, TZ

pytestmark = pytest.mark.integration
REGISTRY = load_registry()


def rows(client, sql, **params):
    return client.query(sql, parameters=params).result_rows


@pytest.fixture(scope="module")
def page(flows_db, tmp_path_factory):
    path = write_daily_report(flows_db, DB, END, TZ, REGISTRY, tmp_path_factory.mktemp("report"))
    return path.read_text(encoding="utf-8")


def name(slug: str) -> str:
    tp = REGISTRY.touchpoints.get(slug)
    return tp.name if tp else slug


def test_the_report_counts_the_missed_callers_nobody_called_back(flows_db, page):
    per_tp = {tp: (int(m), int(b)) for tp, m, b in rows(
        flows_db, f"SELECT touchpoint, sum(missed_identified), sum(called_back) FROM {DB}.calls_resolution_daily "
                  f"WHERE day = {{d:Date32}} GROUP BY touchpoint", d=END)}
    never, = rows(flows_db, f"SELECT count() FROM {DB}.missed_not_called_back WHERE day = {{d:Date32}} "
                            f"AND called_back_after_minutes IS NULL", d=END)[0]
    missed = sum(m for m, _ in per_tp.values())
    late = sum(m - b for m, b in per_tp.values())
    assert missed > 50 and 0 < late < missed and never < late
    assert (f"{late:,} of {missed:,} missed callers ({100 * late / missed:.1f} %) on {END:%A} were not called back "
            f"within the target; {never:,} of them have had no call back at all so far.") in page
    worst = sorted(((m - b, tp) for tp, (m, b) in per_tp.items() if m > b), key=lambda x: (-x[0], x[1]))[:3]
    assert "Most at " + ", ".join(f"{name(tp)} {n:,}" for n, tp in worst) + "." in page.replace("&amp;", "&")


def proportion(successes: int, trials: int) -> tuple[float, float]:
    """Share and its 95 % margin (Agresti-Coull), written out again from the report's definition."""
    adj = (successes + 2) / (trials + 4)
    return successes / trials, 1.96 * math.sqrt(adj * (1 - adj) / (trials + 4))


def test_fcr_is_judged_on_the_latest_settled_day_against_the_combined_margin(flows_db, page):
    counts = {(tp, d): (int(a), int(r)) for tp, d, a, r in rows(
        flows_db, f"SELECT touchpoint, day, sum(answered_identified), sum(repeat_contacts) "
                  f"FROM {DB}.calls_resolution_daily GROUP BY touchpoint, day")}
    statuses = {c.scope: c.status for c in verdict(collect(flows_db, DB, END, TZ, REGISTRY)).comparisons
                if c.metric.key == "fcr"}
    judged_days = set()
    for tp in sorted({tp for tp, _ in counts}):
        judged = END - timedelta(days=math.ceil(REGISTRY.targets(tp).repeat_window_hours / 24))
        judged_days.add(judged)
        answered, repeats = counts.get((tp, judged), (0, 0))
        if not answered:
            continue
        value, moe = proportion(answered - repeats, answered)
        assert f"{100 * value:.0f} % \u00b7 {answered:,} \u00b7 {judged:%d %b}" in page  # the chart's note
        significant = False
        for days in (7, 28):
            a = sum(counts.get((tp, judged - timedelta(days=k)), (0, 0))[0] for k in range(1, days + 1))
            r = sum(counts.get((tp, judged - timedelta(days=k)), (0, 0))[1] for k in range(1, days + 1))
            base, base_moe = proportion(a - r, a)
            significant |= abs(value - base) > math.hypot(moe, base_moe)
        expected = "too-few" if answered < 20 else ("better" if significant else "steady")
        assert statuses[tp] in (("better", "worse") if expected == "better" else (expected,)), (tp, statuses[tp])
    assert judged_days == {END - timedelta(days=3), END - timedelta(days=7)}  # 72 h lines and the 168 h one
    assert len(statuses) >= 6
