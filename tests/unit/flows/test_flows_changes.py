"""Snapshot comparison for backfill: added, removed, changed, and no float noise."""

from datetime import date, datetime
from decimal import Decimal

from touchpulse.flows.changes import diff, plain, same

D1, D2, D3 = date(2024, 6, 1), date(2024, 6, 2), date(2024, 6, 3)


def test_plain_values_are_json_safe_and_stable():
    assert plain(Decimal("12.500000")) == 12.5
    assert plain(3.0) == 3 and isinstance(plain(3.0), int)
    assert plain(float("nan")) is None and plain(float("inf")) is None
    assert plain(0.1 + 0.2) == 0.3
    assert plain(date(2024, 6, 1)) == "2024-06-01"
    assert plain(datetime(2024, 6, 1, 12)) == "2024-06-01T12:00:00"
    assert plain(True) is True and plain(None) is None


def test_float_noise_is_not_a_change_but_a_real_change_is():
    assert same(276.00000000004, 275.99999999996)
    assert not same(276.0, 276.001)
    assert not same(1, None) and same(None, None) and not same(True, 1)


def test_diff_classifies_rows():
    before = {(D1, '["a"]'): {"n": 10, "rate": 0.5}, (D1, '["b"]'): {"n": 3, "rate": 0.1},
              (D2, '["a"]'): {"n": 7, "rate": 0.2}}
    after = {(D1, '["a"]'): {"n": 10, "rate": 0.5000000000001},   # noise
             (D2, '["a"]'): {"n": 8, "rate": 0.2},                 # changed
             (D2, '["c"]'): {"n": 1, "rate": 1.0},                 # added
             (D3, '["a"]'): {"n": 4, "rate": 0.3}}                 # a day never snapshotted
    d = diff("v", before, after, snapshot_days={D1, D2})
    assert d.unchanged == 1
    assert d.removed == [(D1, '["b"]')]
    assert d.added == [(D2, '["c"]')]
    assert [(c.day, c.key, c.columns) for c in d.changed] == [(D2, '["a"]', {"n": (7, 8)})]
    assert d.first_snapshot_days == [D3] and d.first_snapshot_rows == 1
    assert d.any_change


def test_a_day_whose_rows_all_vanished_reports_them_removed():
    before = {(D1, '["a"]'): {"n": 1}}
    d = diff("v", before, {}, snapshot_days={D1})
    assert d.removed == [(D1, '["a"]')]


def test_summary_and_dict_carry_examples():
    before = {(D1, f'["t{i}"]'): {"n": i} for i in range(5)}
    after = {(D1, f'["t{i}"]'): {"n": i + 1} for i in range(5)}
    d = diff("calls_daily", before, after, {D1})
    lines = d.summary(examples=2)
    assert lines[0] == "calls_daily: 0 added, 0 removed, 5 changed, 0 unchanged"
    assert lines[1:] == ['  ~ 2024-06-01 ["t0"]: n 0 -> 1', '  ~ 2024-06-01 ["t1"]: n 1 -> 2']
    data = d.to_dict(examples=3)
    assert data["changed"] == 5 and len(data["examples"]["changed"]) == 3
    assert data["examples"]["changed"][0]["columns"] == {"n": {"before": 0, "after": 1}}
