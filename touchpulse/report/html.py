"""One self-contained HTML page: inline CSS and SVG, no scripts, no fonts, no links to fetch.

The verdict comes first, in words, because the service owner reads it on a phone before the
first meeting; the charts below are there to check it.
"""

from __future__ import annotations

from html import escape
from zoneinfo import ZoneInfo

from touchpulse import __version__
from touchpulse.report.charts import Panel
from touchpulse.report.model import ReportData
from touchpulse.report.resolution import missed_sentence
from touchpulse.report.verdict import Comparison, Verdict

MAX_FINDINGS = 12

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f6f8; color: #2b2f36;
       font: 15px/1.45 -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif; }
.page { max-width: 1240px; margin: 0 auto; padding: 24px 20px 40px; }
header h1 { margin: 0 0 4px; font-size: 26px; }
.meta, .small, figcaption, footer { color: #6b7280; font-size: 13px; }
section.verdict, section.details, figure.panel { background: #fff; border: 1px solid #e1e5ea; border-radius: 8px; }
section.verdict { padding: 16px 20px; margin: 18px 0; }
section.details { padding: 14px 20px; margin: 16px 0 0; }
section.details h2 { margin: 0 0 6px; font-size: 18px; }
td.when, td.who { white-space: nowrap; }
section.verdict h2 { margin: 0 0 6px; font-size: 20px; }
.headline { font-size: 18px; font-weight: 600; margin: 4px 0 12px; }
.findings { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 16px; }
.findings h3 { margin: 6px 0; font-size: 16px; }
.findings ul { margin: 0; padding-left: 20px; }
.findings li { margin: 4px 0; }
.worse h3 { color: #c0392b; } .better h3 { color: #2e8b57; }
p.none { margin: 8px 0; }
h3.followups { margin: 16px 0 4px; font-size: 16px; }
.tables { display: grid; grid-template-columns: minmax(280px, 1fr) minmax(360px, 2fr); gap: 20px; }
.tables p.small { margin: 6px 0 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin-top: 6px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef0f3; vertical-align: top; }
th { color: #6b7280; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(580px, 1fr)); gap: 16px; }
figure.panel { margin: 0; padding: 12px 14px; }
figure.panel h2 { margin: 0 0 6px; font-size: 16px; }
figure.panel svg { display: block; max-width: 100%; height: auto; }
figcaption { margin-top: 4px; }
footer { margin-top: 24px; }
"""


def _items(found: list[Comparison]) -> str:
    if not found:
        return "<p class=\"small\">Nothing.</p>"
    lis = "".join(f"<li>{escape(c.sentence())}</li>" for c in found[:MAX_FINDINGS])
    more = f"<li>and {len(found) - MAX_FINDINGS} more.</li>" if len(found) > MAX_FINDINGS else ""
    return f"<ul>{lis}{more}</ul>"


def _findings(verdict: Verdict) -> str:
    """Worse and better side by side; a side with nothing collapses to one line under the other."""
    worse, better = verdict.worse, verdict.better
    groups = [("worse", "Worse beyond noise", worse), ("better", "Better beyond noise", better)]
    full = [(cls, title, found) for cls, title, found in groups if found]
    empty = [title for _, title, found in groups if not found]
    blocks = "".join(f"<div class=\"{cls}\"><h3>{title} ({len(found)})</h3>{_items(found)}</div>"
                     for cls, title, found in full)
    tail = "".join(f"<p class=\"none\"><strong>{title}:</strong> nothing.</p>" for title in empty)
    return f"<div class=\"findings\">{blocks}</div>{tail}" if blocks else tail


def _overdue_tables(data: ReportData, verdict: Verdict) -> str:
    od = verdict.overdue
    if not od.total:
        return ""
    zone = ZoneInfo(data.timezone)
    out = ["<div><table class=\"overdue-by-touchpoint\"><thead><tr><th>Touchpoint</th><th class=\"num\">Overdue</th>"
           "<th class=\"num\">Fell due on the day</th></tr></thead><tbody>"]
    for tp, (total, on_day) in sorted(od.by_touchpoint.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0])):
        out.append(f"<tr><td>{escape(data.name(tp))}</td><td class=\"num\">{total:,}</td>"
                   f"<td class=\"num\">{on_day:,}</td></tr>")
    out.append("</tbody></table></div>")
    if od.recent:
        out.append(f"<div><p class=\"small\">The {len(od.recent)} waiting longest, oldest due first:</p>"
                   "<table class=\"overdue\"><thead><tr><th>Due</th><th>Touchpoint</th><th>Customer</th>"
                   "<th class=\"num\">Score</th><th>Comment</th></tr></thead><tbody>")
        for f in od.recent:
            out.append(f"<tr><td class=\"when\">{escape(f.due_at.astimezone(zone).strftime('%d %b %H:%M'))}</td>"
                       f"<td>{escape(data.name(f.touchpoint))}</td>"
                       f"<td class=\"who\">{escape(f.customer_id or '-')}</td>"
                       f"<td class=\"num\">{f.score}</td><td>{escape(f.comment or '')}</td></tr>")
        out.append("</tbody></table></div>")
    return "<div class=\"tables\">" + "".join(out) + "</div>"


def _missed_callers(data: ReportData) -> tuple[str, str]:
    """The sentence for the verdict, and the table by touchpoint for below the charts ('' if none)."""
    missed = data.resolution.missed
    sentence = escape(missed_sentence(missed, data.day, data.name))
    if not any(m.not_called_back for m in missed.values()):
        return f"<h3 class=\"followups\">Missed callers</h3><p>{sentence}</p>", ""
    head = ("Touchpoint", "Missed", "Called back in time", "Not called back in time", "No call back at all",
            "Called back in time, %")
    num = " class=\"num\""
    rows = ["<table class=\"missed-callers\"><thead><tr>" + "".join(
        f"<th{num if i else ''}>{h}</th>" for i, h in enumerate(head)) + "</tr></thead><tbody>"]
    for slug, m in sorted(missed.items(), key=lambda kv: (-kv[1].not_called_back, kv[0])):
        cells = (f"{m.missed:,}", f"{m.called_back:,}", f"{m.not_called_back:,}", f"{m.never:,}",
                 f"{100 * m.called_back / m.missed:.0f} %")
        rows.append(f"<tr><td>{escape(data.name(slug))}</td>"
                    + "".join(f"<td class=\"num\">{c}</td>" for c in cells) + "</tr>")
    rows.append("</tbody></table>")
    link = " <a href=\"#missed-callers\">By touchpoint below the charts.</a>"
    return (f"<h3 class=\"followups\">Missed callers not called back</h3><p>{sentence}{link}</p>",
            "<section class=\"details\" id=\"missed-callers\"><h2>Missed callers by touchpoint</h2>"
            "<p class=\"small\">Known customers whose call was missed on the day (short abandons aside), and "
            "whether the team called them back within the touchpoint's call-back target.</p>"
            + "".join(rows) + "</section>")


def render(data: ReportData, verdict: Verdict, panels: list[Panel]) -> str:
    day = f"{data.day:%A} {data.day.day} {data.day:%B %Y}"
    steady, too_few = verdict.steady, verdict.too_few
    parts = [
        "<!DOCTYPE html>",
        "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>touchpulse daily report \u2014 {data.day.isoformat()}</title>",
        f"<style>{CSS}</style></head><body><div class=\"page\">",
        f"<header><h1>Service report for {escape(day)}</h1>",
        f"<p class=\"meta\">Business day in {escape(data.timezone)} \u00b7 compared with the 7 and 28 days before "
        f"\u00b7 generated {escape(data.generated_at.strftime('%Y-%m-%d %H:%M %Z'))}</p></header>",
        "<section class=\"verdict\"><h2>Verdict</h2>",
        f"<p class=\"headline\">{escape(verdict.headline())}</p>",
        _findings(verdict),
        f"<p>Within noise: {len(steady)} metric{'s' if len(steady) != 1 else ''} moved less than "
        "their margin of error.",
    ]
    if too_few:
        names = ", ".join(sorted({f"{c.metric.label} at {c.scope_label}" if c.scope else c.metric.label
                                  for c in too_few}))
        parts.append(f" Too few observations on the day to judge: {escape(names)}.")
    if verdict.no_baseline:
        names = ", ".join(sorted({f"{c.metric.label} at {c.scope_label}" if c.scope else c.metric.label
                                  for c in verdict.no_baseline}))
        parts.append(f" Nothing earlier to compare with: {escape(names)}.")
    parts.append("</p>")
    tables = _overdue_tables(data, verdict)
    overdue = escape(verdict.overdue.sentence(data.zone_label, data.name))
    link = " <a href=\"#followups\">The list is below the charts.</a>" if tables else ""
    parts.append(f"<h3 class=\"followups\">Overdue follow-ups</h3><p>{overdue}{link}</p>")
    if verdict.notes:
        parts.append("<ul class=\"notes\">" + "".join(f"<li>{escape(n)}</li>" for n in verdict.notes) + "</ul>")
    missed_text, missed_table = _missed_callers(data) if data.resolution is not None else ("", "")
    if missed_text:
        parts.append(missed_text)
    parts.append(f"<p class=\"small\">{escape(verdict.chance_note())}</p></section>")
    parts.append("<main class=\"grid\">")
    for p in panels:
        parts.append(f"<figure class=\"panel\" id=\"{escape(p.key)}\"><h2>{escape(p.title)}</h2>{p.svg}"
                     f"<figcaption>{escape(p.caption)}</figcaption></figure>")
    parts.append("</main>")
    if tables:
        parts.append(f"<section class=\"details\" id=\"followups\"><h2>Overdue follow-ups</h2>{tables}</section>")
    if missed_table:
        parts.append(missed_table)
    parts.append(f"<footer>touchpulse {escape(__version__)} \u00b7 every number follows the metrics contract "
                 "(docs/metrics.md); margins of error are 95 %.</footer></div></body></html>")
    return "\n".join(parts) + "\n"
