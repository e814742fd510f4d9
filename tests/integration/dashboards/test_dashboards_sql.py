"""Every panel's SQL, expanded as Grafana would, runs on chDB over simulated traffic and returns rows."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import orjson
import pytest

from tests.support.facts import TOPIC_OF, TOPIC_TYPES, load_simulated
from touchpulse.clickhouse.dashboard_views import DASHBOARD_VIEWS, dashboard_view_statements
from touchpulse.clickhouse.schema import SchemaOptions
from touchpulse.clickhouse.writer import FactWriter, LocalNotices
from touchpulse.core.touchpoints import load_registry
from touchpulse.dashboards.build import build_all, panels
from touchpulse.dashboards.check import panel_queries, resolve_variables, run_dashboard
from touchpulse.dashboards.macros import Selection, expand
from touchpulse.streams.batch import Message, process_batch

pytestmark = pytest.mark.integration

TZ = "Europe/Moscow"
END = date(2025, 3, 16)
DB = "dash_panels"
T_FROM = datetime.combine(END - timedelta(days=14), time(0), timezone.utc)
T_TO = datetime.combine(END + timedelta(days=1), time(0), timezone.utc)
REGISTRY = load_registry()
MODELS = build_all(REGISTRY.slugs, database=DB, timezone=TZ)
QUERIES = [q for model in MODELS.values() for q in panel_queries(model)]
# Views other engineers add to the schema; panels on them skip (not fail) until they exist.
OPTIONAL_VIEWS = ("nps_rolling_7d", "loyalty_monthly")


def _prepare(client, database: str, days: int) -> None:
    client.command(f"DROP DATABASE IF EXISTS {database}")
    load_simulated(client, database, days=days, seed=7, end_day=END, timezone=TZ, registry=REGISTRY)
    for stmt in dashboard_view_statements(SchemaOptions(database, TZ), REGISTRY):
        client.command(stmt)


@pytest.fixture(scope="module")
def sim(chdb_client):
    _prepare(chdb_client, DB, days=14)
    views = {r[0] for r in chdb_client.query(
        "SELECT name FROM system.tables WHERE database = {db:String}", parameters={"db": DB}).result_rows}
    assert set(DASHBOARD_VIEWS) <= views
    yield chdb_client, views
    chdb_client.command(f"DROP DATABASE IF EXISTS {DB}")


@pytest.fixture(scope="module")
def results(sim):
    client, _ = sim
    run = lambda sql: client.query(sql).result_rows  # noqa: E731
    out = {}
    for uid, model in MODELS.items():
        for r in run_dashboard(model, run, T_FROM, T_TO):
            out.setdefault((uid, r.query.panel_id, r.query.ref_id), []).append(r)
    return out


@pytest.mark.parametrize("query", QUERIES, ids=[f"{q.dashboard}#{q.panel_id}-{q.title}" for q in QUERIES])
def test_panel_sql_runs_and_returns_rows(sim, results, query):
    _, views = sim
    missing = [v for v in OPTIONAL_VIEWS if f"{DB}.{v}" in query.raw_sql and v not in views]
    if missing:
        pytest.skip(f"view {', '.join(missing)} is not in the schema yet")
    runs = results[(query.dashboard, query.panel_id, query.ref_id)]
    errors = [f"{r.label}: {r.error}\n{r.sql}" for r in runs if r.error]
    assert not errors, "\n\n".join(errors)
    if query.repeat:  # a repeated row runs once per touchpoint; not every touchpoint has calls or orders
        assert len(runs) == len(REGISTRY.slugs)
        assert sum(r.rows > 0 for r in runs) >= 3, [r.label for r in runs]
    else:
        assert runs[0].rows > 0, f"{runs[0].label} returned no rows:\n{runs[0].sql}"


def _sql(uid: str, title: str) -> str:
    return next(p for p in panels(MODELS[uid]) if p["title"] == title)["targets"][0]["rawSql"]


def _run(client, uid: str, sql: str, chosen: dict | None = None):
    run = lambda s: client.query(s).result_rows  # noqa: E731
    selections = resolve_variables(MODELS[uid], run, T_FROM, T_TO, chosen)
    return client.query(expand(sql, time_from=T_FROM, time_to=T_TO, variables=selections)).result_rows


def test_the_lunch_gap_shows_in_missed_calls_by_hour(sim):
    client, _ = sim
    rows = _run(client, "touchpulse-contact-centre", _sql("touchpulse-contact-centre", "Missed calls by hour of day"))
    share = {hour: missed / (answered + missed) for hour, answered, missed in rows}
    assert list(share) == sorted(share) and "09" in share and "13" in share  # local hours, in order
    assert max(share, key=share.get) == "13", share


def test_one_touchpoint_selected_filters_every_panel(sim):
    client, _ = sim
    chosen = {"touchpoint": Selection(("billing",))}
    rows = _run(client, "touchpulse-nps", _sql("touchpulse-nps", "Touchpoints, worst NPS first"), chosen)
    assert [r[0] for r in rows] == ["billing"]
    everything = _run(client, "touchpulse-nps", _sql("touchpulse-nps", "Touchpoints, worst NPS first"))
    assert len(everything) == len(REGISTRY.slugs)
    nps = [r[2] for r in everything]
    assert nps == sorted(nps)  # worst first
    run = lambda s: client.query(s).result_rows  # noqa: E731
    for uid, model in MODELS.items():
        if any(v["name"] == "touchpoint" for v in model["templating"]["list"]):
            failed = [r.label + ": " + r.error for r in run_dashboard(model, run, T_FROM, T_TO, chosen) if r.error]
            assert not failed, failed


def test_the_nps_stat_agrees_with_the_contract_view(sim):
    client, _ = sim
    nps, moe, n = _run(client, "touchpulse-nps", _sql("touchpulse-nps", "NPS"))[0]
    p, d, total = client.query(
        f"SELECT sum(promoters), sum(detractors), sum(responses) FROM {DB}.nps_daily WHERE brand = 'own' "
        f"AND day BETWEEN '{T_FROM.date()}' AND '{T_TO.date()}'").result_rows[0]
    assert n == total and nps == round(100 * (p - d) / total, 1)
    share_p, share_d = p / total, d / total
    assert moe == round(196 * ((share_p + share_d - (share_p - share_d) ** 2) / total) ** 0.5, 1)


def _survey(i: int, touchpoint: str, score: int, day: date) -> bytes:
    return orjson.dumps({
        "event_id": f"popup-{i}", "type": "survey", "version": 1, "touchpoint": touchpoint,
        "occurred_at": f"{day.isoformat()}T{10 + i % 8:02d}:15:00+03:00", "response_id": f"popup-r{i}",
        "customer_id": f"c{i}", "score": score, "comment": "queue was long" if score < 7 else ""})


def test_a_touchpoint_new_in_the_data_gets_its_panels(chdb_client):
    db = "dash_new_touchpoint"
    _prepare(chdb_client, db, days=2)
    surveys = [_survey(i, "pop_up_store", score, END) for i, score in enumerate([2, 9, 10, 4, 9, 10, 8, 3])]
    topic = TOPIC_OF["survey"]
    stamp = datetime.combine(END, time(12), timezone.utc)
    messages = [Message(topic, 0, 10_000_000 + i, None, raw, stamp) for i, raw in enumerate(surveys)]
    LocalNotices(FactWriter(chdb_client, db)).write(process_batch(messages, TOPIC_TYPES, REGISTRY, followup_below=8, now=stamp))

    models = build_all(REGISTRY.slugs, database=db, timezone=TZ)  # built before anyone knew the new slug
    run = lambda s: chdb_client.query(s).result_rows  # noqa: E731
    drill = models["touchpulse-touchpoint"]
    assert "pop_up_store" in resolve_variables(drill, run, T_FROM, T_TO)["touchpoint"].values
    results = run_dashboard(drill, run, T_FROM, T_TO)
    mine = {r.query.title: r for r in results if r.scoped.get("touchpoint") == "pop_up_store"}
    assert mine["NPS"].rows == 1 and mine["NPS by day"].rows == 1 and mine["Latest follow-ups"].rows == 3
    # 4 promoters, 1 passive, 3 detractors: NPS 12.5, margin 196 * sqrt((7/8 - (1/8)^2) / 8) = 64.2
    assert chdb_client.query(mine["NPS"].sql).result_rows == [(12.5, 64.2, 8)]
    table = next(p for p in panels(models["touchpulse-nps"]) if p["title"] == "Touchpoints, worst NPS first")
    sql = expand(table["targets"][0]["rawSql"], time_from=T_FROM, time_to=T_TO,
                 variables=resolve_variables(models["touchpulse-nps"], run, T_FROM, T_TO))
    assert "pop_up_store" in [r[0] for r in chdb_client.query(sql).result_rows]
    chdb_client.command(f"DROP DATABASE IF EXISTS {db}")


def test_alert_rule_queries_run_on_the_real_views(sim):
    from touchpulse.dashboards.alerts import alert_rules
    from touchpulse.dashboards.model import Context

    client, _ = sim
    ctx = Context(datasource_uid="touchpulse-clickhouse", database=DB, timezone=TZ, touchpoints=())
    now = f"toDateTime('{END.isoformat()} 18:00:00', '{TZ}')"  # the last simulated day, at 18:00 there
    counts = {}
    for rule in alert_rules(ctx, "touchpulse"):
        rows = client.query(rule["data"][0]["model"]["rawSql"].replace("now()", now)).result_rows
        assert all(isinstance(tp, str) and isinstance(v, float) for tp, v in rows), rows[:3]
        counts[rule["uid"]] = len(rows)
    # every voice touchpoint had calls that day; enough answers for a baseline at the busy touchpoints
    assert counts["touchpulse-service-level"] >= 5 and counts["touchpulse-nps-drop"] >= 3
    assert counts["touchpulse-reviews-overdue"] >= 3
    assert counts["touchpulse-followups-overdue"] >= 3  # the simulated team leaves some follow-ups behind


CC = "touchpulse-contact-centre"


def test_call_backs_by_hour_show_the_lunch_gap(sim):
    client, _ = sim
    rows = _run(client, CC, _sql(CC, "Missed callers by hour of day: called back in time or not"))
    in_time = {hour: back / (back + late) for hour, back, late in rows}
    assert list(in_time) == sorted(in_time) and "09" in in_time and "13" in in_time
    assert min(in_time, key=in_time.get) == "13", in_time
    others = [hour for hour in in_time if hour != "13"]
    assert in_time["13"] < 0.6 * sum(in_time[h] for h in others) / len(others), in_time


def test_the_duty_list_is_the_last_day_of_the_range(sim):
    client, _ = sim
    rows = _run(client, CC, _sql(CC, "Missed callers not called back"))
    expected = client.query(f"SELECT customer_id, touchpoint, queued_at FROM {DB}.missed_not_called_back "
                            f"WHERE day = {{d:Date32}}", parameters={"d": END}).result_rows
    missed, back = client.query(f"SELECT sum(missed_identified), sum(called_back) FROM {DB}.calls_resolution_daily "
                                f"WHERE day = {{d:Date32}}", parameters={"d": END}).result_rows[0]
    assert len(rows) == len(expected) == missed - back > 0  # the two views agree on who is owed a call
    assert sorted(r[:3] for r in rows) == sorted(expected)
    assert [r[2] for r in rows] == sorted(r[2] for r in rows)  # in the order they called
    callback_minutes = {tp: REGISTRY.targets(tp).callback_minutes for tp in REGISTRY.slugs}
    late = [r for r in rows if r[4] is not None]
    assert late and all(r[4] >= callback_minutes[r[1]] for r in late)  # called back, but too late
    assert all(r[3] >= REGISTRY.targets(r[1]).short_abandon_seconds for r in rows)
    only = _run(client, CC, _sql(CC, "Missed callers not called back"), {"touchpoint": Selection(("billing",))})
    assert only and {r[1] for r in only} == {"billing"} and len(only) < len(rows)


def test_resolution_panels_agree_with_the_contract_views(sim):
    client, _ = sim
    days = {"a": T_FROM.date(), "b": T_TO.date()}
    answered, repeats, missed, back = client.query(
        f"SELECT sum(answered_identified), sum(repeat_contacts), sum(missed_identified), sum(called_back) "
        f"FROM {DB}.calls_resolution_daily WHERE day BETWEEN {{a:Date32}} AND {{b:Date32}}", parameters=days
    ).result_rows[0]
    assert _run(client, CC, _sql(CC, "First-contact resolution")) == [((answered - repeats) / answered,)]
    assert _run(client, CC, _sql(CC, "Called back in time")) == [(back / missed,)]
    fcr = 1 - repeats / answered
    assert 0.6 < fcr < 0.9 and back / missed < 0.85  # the simulated centre: some repeats, a lunch gap
    agents = _run(client, CC, _sql(CC, "Agents, lowest first-contact resolution first"))
    total, = client.query(f"SELECT sum(answered) FROM {DB}.agents_daily WHERE day BETWEEN {{a:Date32}} AND "
                          f"{{b:Date32}}", parameters=days).result_rows[0]
    assert sum(r[2] for r in agents) == total and len(agents) >= 30
    rates = [r[4] for r in agents]
    assert rates == sorted(rates) and rates[-1] - rates[0] > 0.2  # worst first; agents really differ
    by_line = _run(client, CC, _sql(CC, "Touchpoints, lowest first-contact resolution first"))
    assert [r[1] for r in by_line] == sorted(r[1] for r in by_line) and by_line[0][0] == "tech_support"


@pytest.mark.parametrize("tp", ["1", "touchpoint IN ('billing')"])
def test_the_overdue_queue_reads_few_days_and_shows_exactly_the_follow_ups_due_first(sim, tp):
    from touchpulse.dashboards.closed_loop import overdue_days
    from touchpulse.dashboards.model import Context

    client, _ = sim
    ctx = Context("ds", DB, TZ, tuple(REGISTRY.slugs))
    plain = f"SELECT followup_id, due_at FROM {DB}.followup_queue WHERE overdue = 1 AND {tp} ORDER BY due_at, followup_id"
    everything = client.query(plain).result_rows
    days_with = {r[0] for r in client.query(f"SELECT DISTINCT day FROM {DB}.followup_queue WHERE overdue = 1 AND {tp}"
                                            ).result_rows}
    assert len(everything) > 60 and len(days_with) > 5
    for limit in (1, 7, 60, len(everything) + 5):
        cond = overdue_days(ctx, tp, limit)
        kept = client.query(f"SELECT followup_id, due_at FROM {DB}.followup_queue WHERE overdue = 1 AND {tp} "
                            f"AND {cond} ORDER BY due_at, followup_id LIMIT {limit}").result_rows
        assert kept == everything[:limit]
        days = {r[0] for r in client.query(f"SELECT DISTINCT day FROM {DB}.followup_queue WHERE {cond}").result_rows}
        assert days <= days_with
        if limit <= 7:
            assert len(days) < len(days_with)  # it does leave days unread


def test_open_and_overdue_now_count_the_queue(sim):
    client, _ = sim
    open_now = _run(client, "touchpulse-closed-loop", _sql("touchpulse-closed-loop", "Open now"))[0][0]
    overdue_now = _run(client, "touchpulse-closed-loop", _sql("touchpulse-closed-loop", "Overdue now"))[0][0]
    assert (open_now, overdue_now) == client.query(
        f"SELECT countIf(state != 'closed'), countIf(overdue = 1) FROM {DB}.followup_queue").result_rows[0]
    assert open_now > 0


@pytest.mark.parametrize("conditions", [["1"], ["comment != ''", "brand IN ('own')"],
                                        ["touchpoint IN ('billing')", "kind IN ('transactional')"]])
def test_the_latest_panels_read_few_days_and_show_exactly_the_newest_follow_ups(sim, conditions):
    from touchpulse.dashboards.sql import newest_days

    client, _ = sim
    replaced = client.query(f"SELECT countIf(n < 0) FROM {DB}.followup_versions").result_rows[0][0]
    assert replaced > 0  # updated follow-ups: counting rows instead of summing n would be caught
    cond = " AND ".join(conditions)
    plain = (f"SELECT followup_id, occurred_at FROM {DB}.followups_latest WHERE {cond} "
             f"ORDER BY occurred_at DESC, followup_id")
    everything = client.query(plain).result_rows
    days_with = {r[0] for r in client.query(f"SELECT DISTINCT day FROM {DB}.followups_latest WHERE {cond}").result_rows}
    assert len(everything) > 30 and len(days_with) > 5
    for limit in (1, 7, 30, len(everything), len(everything) + 5):
        days = newest_days(f"{DB}.followup_versions", conditions, limit)
        kept = client.query(f"SELECT followup_id, occurred_at FROM {DB}.followups_latest WHERE {cond} AND {days} "
                            f"ORDER BY occurred_at DESC, followup_id LIMIT {limit}").result_rows
        assert kept == everything[:limit]
        read = {r[0] for r in client.query(f"SELECT DISTINCT day FROM {DB}.followups_latest WHERE {cond} AND {days}"
                                           ).result_rows}
        if limit <= 7:
            assert len(read) < len(days_with)  # it does leave days unread


def test_the_latest_panels_show_the_newest_follow_ups_of_the_range(sim):
    client, _ = sim
    rows = _run(client, "touchpulse-nps", _sql("touchpulse-nps", "Latest follow-ups with comments"))
    newest = client.query(
        f"SELECT occurred_at FROM {DB}.followups_latest WHERE comment != '' AND brand = 'own' "
        f"AND occurred_at >= {{a:DateTime64(6)}} AND occurred_at <= {{b:DateTime64(6)}} ORDER BY occurred_at DESC LIMIT 100",
        parameters={"a": T_FROM, "b": T_TO}).result_rows
    assert [r[0] for r in rows] == [r[0] for r in newest] and len(rows) == 100


@pytest.mark.parametrize("chosen", [None, {"touchpoint": Selection(("billing", "call_centre"))}])
def test_the_median_time_to_contact_is_the_exact_median_over_the_queue(sim, chosen):
    client, _ = sim
    uid = "touchpulse-closed-loop"
    got, = _run(client, uid, _sql(uid, "Median time to contact"), chosen)[0]
    tp = "touchpoint IN ('billing', 'call_centre')" if chosen else "1"
    want, contacted = client.query(
        f"SELECT quantileExactInclusive(0.5)((toUnixTimestamp64Micro(first_contact_at) - "
        f"toUnixTimestamp64Micro(occurred_at)) / 3600e6), count() FROM {DB}.followup_queue "
        f"WHERE day BETWEEN {{a:Date32}} AND {{b:Date32}} AND first_contact_at IS NOT NULL AND {tp}",
        parameters={"a": T_FROM.date(), "b": T_TO.date()}).result_rows[0]
    assert contacted > 10 and got == pytest.approx(want, rel=1e-12)


def test_the_agents_panel_is_agents_daily_summed_with_fcr_over_the_settled_days(sim):
    client, _ = sim
    uid = "touchpulse-contact-centre"
    got = _run(client, uid, _sql(uid, "Agents, lowest first-contact resolution first"))
    # The panel's former query: the contract view agents_daily, and fcr_settled for the settled days.
    want = client.query(f"""
        SELECT agent_id, touchpoint, sum(answered), round(sum(aht_seconds * answered) / nullIf(sum(answered), 0)),
            round(if(sumIf(identified, settled) = 0, NULL, (toInt64(sumIf(identified, settled))
                - toInt64(sumIf(repeat_contacts, settled))) / sumIf(identified, settled)), 3) AS fcr,
            sumIf(identified, settled)
        FROM (SELECT *, (day, touchpoint) IN (SELECT day, touchpoint FROM {DB}.fcr_settled
                                              WHERE day BETWEEN {{a:Date32}} AND {{b:Date32}}) AS settled
              FROM {DB}.agents_daily WHERE day BETWEEN {{a:Date32}} AND {{b:Date32}})
        GROUP BY agent_id, touchpoint
        ORDER BY fcr ASC NULLS LAST, agent_id
        LIMIT 500""", parameters={"a": T_FROM.date(), "b": T_TO.date()}).result_rows
    assert len(got) >= 30 and [r[:3] + r[4:] for r in got] == [r[:3] + r[4:] for r in want]
    assert all(abs(g[3] - w[3]) <= 1 for g, w in zip(got, want))  # AHT rounded to a second either way
