"""The Prefect flows: thin adapters that take serialisable parameters, get settings and a client
from `touchpulse.flows.runtime`, call the plain functions and return JSON-able results.

Import this module only after `runtime.prepare_prefect(settings)`: Prefect reads its home and
settings when it is imported.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from touchpulse.flows import runtime
from touchpulse.flows.backfill import backfill
from touchpulse.flows.daily import daily_report
from touchpulse.flows.refresh import refresh_dashboards


@flow(name="refresh-dashboards", retries=2, retry_delay_seconds=60,
      description="Discover touchpoints, write and provision the Grafana dashboards, annotate NPS changes.")
def refresh_dashboards_flow(out: str | None = None) -> dict[str, Any]:
    settings = runtime.current_settings()
    with runtime.clickhouse(settings, read_only=True) as client:
        result = refresh_dashboards(client, settings, out_dir=Path(out) if out else None)
    logger = get_run_logger()
    logger.info("%d dashboards for %d touchpoints in %s (%d changed)", len(result.written), len(result.touchpoints),
                result.written[0].parent if result.written else "-", len(result.changed_files))
    for note in result.notes:
        logger.info(note)
    return result.to_dict()


@flow(name="daily-report", retries=1, retry_delay_seconds=120,
      description="Write the previous business day's self-contained HTML report.")
def daily_report_flow(day: date | None = None, out: str | None = None) -> str:
    settings = runtime.current_settings()
    with runtime.clickhouse(settings, read_only=True) as client:
        path = daily_report(client, settings, day=day, out_dir=Path(out) if out else None)
    get_run_logger().info("daily report written to %s", path)
    return str(path)


@flow(name="backfill", description="Re-drive a date range and report what changed in the metric views.")
def backfill_flow(day_from: date, day_to: date, out: str | None = None) -> dict[str, Any]:
    settings = runtime.current_settings()
    with runtime.clickhouse(settings) as client:
        report = backfill(client, settings, day_from, day_to)
    path = report.save(Path(out) if out else settings.home / "reports")
    data = dict(report.to_dict(), report_path=str(path))
    get_run_logger().info("%s (full report: %s)", report.text().splitlines()[0], path)
    return data


FLOW_OBJECTS = {"refresh-dashboards": refresh_dashboards_flow, "daily-report": daily_report_flow,
                "backfill": backfill_flow}
