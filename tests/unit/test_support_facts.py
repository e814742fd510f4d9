"""The in-process loader used by metric tests fills ClickHouse through the worker's own path."""

from __future__ import annotations

from datetime import date

from tests.support.facts import load_simulated
from touchpulse.core.touchpoints import load_registry


def test_load_simulated_fills_nps_daily_for_all_touchpoints(chdb_client):
    counts = load_simulated(chdb_client, "support_facts", days=3, seed=3, end_day=date(2025, 3, 30),
                            timezone="Europe/Moscow")
    assert counts["accepted"] > 7000 and counts["followups"] > 100
    assert 0 < counts["rejected"] < counts["accepted"] * 0.01
    rows = chdb_client.query(
        "SELECT touchpoint, sum(responses) FROM support_facts.nps_daily "
        "WHERE kind = 'transactional' AND brand = 'own' GROUP BY touchpoint").result_rows
    assert len(rows) >= 12
    assert {tp for tp, _ in rows} == set(load_registry().slugs)
    days = chdb_client.query("SELECT DISTINCT day FROM support_facts.nps_daily ORDER BY day").result_rows
    assert [d for (d,) in days] == [date(2025, 3, 28), date(2025, 3, 29), date(2025, 3, 30)]
    stored = chdb_client.query("SELECT count() FROM support_facts.dead_letters").result_rows[0][0]
    assert stored == counts["rejected"]
