"""`make demo`: a month of telecom-style traffic through Kafka, Faust and ClickHouse, ending with
the table a service owner reads: last full day's NPS per touchpoint, with its margin and follow-ups."""

from __future__ import annotations

import logging
from touchpulse.clickhouse.client import connect
from touchpulse.clickhouse.queries import render_table
from touchpulse.clickhouse.schema import q
from touchpulse.core.business_time import business_zone, last_full_day
from touchpulse.kafka import broker
from touchpulse.kafka.emit import produce_simulation
from touchpulse.services import bring_up
from touchpulse.settings import Settings

log = logging.getLogger("touchpulse.demo")


def run_demo(settings: Settings, days: int = 30, seed: int = 1) -> int:
    zone = business_zone(settings.timezone)
    day = last_full_day(zone)
    log.info("step 1/6: starting services (broker, topics, ClickHouse schema in %s)", settings.home)
    bring_up(settings)
    try:
        log.info("step 2/6: simulating %d days of calls, purchases, reviews and surveys up to %s", days, day)
        produce_simulation(settings, days=days, seed=seed, end_day=day)
        log.info("step 3/6: running the Faust worker in drain mode until every event is processed")
        from touchpulse.streams.runner import run_worker
        code = run_worker(settings, drain=True)
        if code != 0:
            log.error("the worker exited with code %d", code)
            return code
        log.info("step 4/6: reading the metric views")
        print(summary(settings, day))
        print(callback_gap(settings, day, days))
        log.info("step 5/6: writing the Grafana dashboards and the daily report")
        for label, path in outputs(settings, day):
            print(f"{label}: {path}")
    finally:
        if settings.embedded_kafka:
            log.info("step 6/6: stopping the local broker (data stays in %s)", settings.home)
            broker.stop(settings.home)
    return 0


def summary(settings: Settings, day) -> str:
    db = q(settings.database)
    client = connect(settings)
    try:
        result = client.query(f"""
            SELECT n.touchpoint, n.responses, round(n.nps, 1), round(n.nps_moe95, 1),
                   ifNull(f.raised, 0) AS followups
            FROM {db}.nps_daily AS n
            LEFT JOIN (
                SELECT touchpoint, uniqExact(followup_id) AS raised FROM {db}.followups
                WHERE brand = 'own' AND toDate(occurred_at, {{tz:String}}) = {{day:Date}}
                GROUP BY touchpoint) AS f ON f.touchpoint = n.touchpoint
            WHERE n.day = {{day:Date}} AND n.brand = 'own'
              AND n.kind = 'transactional'
            ORDER BY n.nps ASC""", parameters={"day": day, "tz": settings.timezone})
        rows = [(tp, n, nps, f"± {moe}", fu) for tp, n, nps, moe, fu in result.result_rows]
        health = client.query(f"SELECT sum(accepted), sum(duplicates), sum(rejected) FROM {db}.ingest_daily"
                              ).result_rows[0]
        loop = loop_line(client, settings.database, day)
    finally:
        client.close()
    head = (f"\nNPS on {day} (last full day, {settings.timezone}), transactional surveys, worst first\n"
            f"(± is the 95 % margin of error; follow-ups = scores below {settings.followup_below} "
            "raised for a call back)\n\n")
    table = render_table(["touchpoint", "responses", "nps", "margin", "follow-ups"], rows)
    foot = (f"\npipeline: {health[0]} events accepted, {health[1]} duplicates ignored, "
            f"{health[2]} rejected to the dead-letter topic\n")
    return head + table + foot + loop


def loop_line(client, database: str, day) -> str:
    """One line about the closed loop up to `day`, from followups_daily: was the team's call back
    in time, how many still wait past their due time, and did it win anyone back."""
    raised, in_time, overdue, recovered = client.query(
        f"SELECT sum(raised), sum(closed_in_time), sum(overdue), sum(recovered) FROM {q(database)}.followups_daily "
        f"WHERE day <= {{day:Date32}}", parameters={"day": day}).result_rows[0]
    if not raised:
        return "closed loop: no follow-ups raised\n"
    return (f"closed loop: {raised} follow-ups raised, {in_time} ({100 * in_time / raised:.0f} %) closed in time, "
            f"{overdue} overdue now, {recovered} customers won back (answered 9-10 after the call back)\n")


def callback_gap(settings: Settings, day, days: int) -> str:
    from touchpulse.services import registry

    client = connect(settings)
    try:
        return callback_gap_line(client, settings.database, day, days, registry(settings))
    finally:
        client.close()


def callback_gap_line(client, database: str, day, days: int, registry) -> str:
    """The lunch-hour story in one line, read from the callbacks_hourly view: the share of missed
    callers called back in time outside the simulated lunch hours, and in them."""
    from touchpulse.simulate.profiles import LUNCH_HOURS

    result = client.query(f"""
        SELECT hour IN {{lunch:Array(UInt8)}} AS at_lunch, sum(called_back), sum(missed_identified)
        FROM {q(database)}.callbacks_hourly
        WHERE day > {{day:Date32}} - {{days:UInt32}} AND day <= {{day:Date32}}
        GROUP BY at_lunch""", parameters={"lunch": list(LUNCH_HOURS), "day": day, "days": days})
    shares = {bool(lunch): (int(back), int(missed)) for lunch, back, missed in result.result_rows}
    targets = {tp.targets.callback_minutes for tp in registry.touchpoints.values()}
    within = f"within {targets.pop():g} min" if len(targets) == 1 else "within their line's target"

    def pct(lunch: bool) -> str:
        back, missed = shares.get(lunch, (0, 0))
        return f"{100 * back / missed:.0f} %" if missed else "-"

    hours = f"{min(LUNCH_HOURS)}-{max(LUNCH_HOURS) + 1}h"
    return (f"Missed callers called back {within}: {pct(False)} outside lunch, {pct(True)} at lunch ({hours}), "
            f"last {days} days\n")


def outputs(settings: Settings, day) -> list[tuple[str, object]]:
    """What the refresh-dashboards and daily-report flows produce, run here without Prefect's
    server for a quick first look (`touchpulse flow run NAME` runs them as Prefect flows)."""
    from touchpulse.flows.daily import daily_report
    from touchpulse.flows.refresh import refresh_dashboards

    client = connect(settings)
    try:
        refreshed = refresh_dashboards(client, settings)
        report = daily_report(client, settings, day=day)
    finally:
        client.close()
    folder = refreshed.written[0].parent if refreshed.written else settings.home / "dashboards"
    return [("Grafana dashboards (JSON models)", folder), ("daily report (open in a browser)", report)]
