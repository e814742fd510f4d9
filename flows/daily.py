"""daily-report: the previous business day's report for the service owner, as one HTML file."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

from touchpulse.core.business_time import business_zone, last_full_day
from touchpulse.core.touchpoints import Registry, load_registry
from touchpulse.report.daily import write_daily_report
from touchpulse.settings import Settings


def daily_report(client, settings: Settings, *, day: date | None = None, out_dir: Path | None = None,
                 registry: Registry | None = None, now: datetime | None = None) -> Path:
    """Write TOUCHPULSE_HOME/reports/daily-YYYY-MM-DD.html (or `out_dir`) for `day`, by default
    yesterday in the business time zone; returns the path."""
    from touchpulse.flows.runtime import require_schema

    require_schema(client, settings.database)
    now = now or datetime.now(timezone.utc)
    day = day or last_full_day(business_zone(settings.timezone), now)
    return write_daily_report(client, settings.database, day, settings.timezone,
                              registry or load_registry(settings.touchpoints),
                              Path(out_dir) if out_dir else settings.home / "reports", now=now)
