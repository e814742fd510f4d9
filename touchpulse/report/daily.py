"""Write the daily report for one business day: collect, judge, draw, render, save."""

from __future__ import annotations

import os
import tempfile
from datetime import date, datetime
from pathlib import Path

from touchpulse.core.touchpoints import Registry
from touchpulse.report import charts, html, model
from touchpulse.report.data import collect


def report_path(out_dir: Path, day: date) -> Path:
    return Path(out_dir) / f"daily-{day.isoformat()}.html"


def render_report(data: model.ReportData) -> str:
    """Pure: the HTML page for already-collected data."""
    verdict = model.verdict(data)
    return html.render(data, verdict, charts.panels(data, verdict))


def write_daily_report(client, database: str, day: date, tz: str, registry: Registry, out_dir: Path, *,
                       now: datetime | None = None) -> Path:
    """Collect `day` from ClickHouse and write `out_dir/daily-YYYY-MM-DD.html`; returns its path."""
    page = render_report(collect(client, database, day, tz, registry, now=now))
    path = report_path(out_dir, day)
    write_atomic(path, page)
    return path


def write_atomic(path: Path, text: str) -> None:
    """Readers (a mail job, a web server) never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
