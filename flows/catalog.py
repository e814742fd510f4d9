"""The flows touchpulse offers, their schedules and options: one table for `flow list`, `flow run`
and `flow serve`, importable without Prefect (importing Prefect takes over a second)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FlowInfo:
    name: str
    cron: str | None          # in the business time zone; None = run on demand only
    options: tuple[str, ...]  # `flow run` options that apply
    description: str


FLOWS: dict[str, FlowInfo] = {f.name: f for f in (
    FlowInfo("refresh-dashboards", "*/15 * * * *", ("--out",),
             "discover touchpoints, write the Grafana dashboards to TOUCHPULSE_HOME/dashboards and, with "
             "TOUCHPULSE_GRAFANA_URL/TOKEN, provision folder, datasource, dashboards, alert rules and NPS-change "
             "annotations"),
    FlowInfo("daily-report", "0 7 * * *", ("--day", "--out"),
             "write the previous business day's HTML report to TOUCHPULSE_HOME/reports/daily-YYYY-MM-DD.html"),
    FlowInfo("backfill", None, ("--from", "--to", "--out"),
             "re-apply schema and targets, re-read the metric views for a date range and report what changed "
             "since the last snapshot"),
)}
