"""The report's panels as SVG: the dashboards' story, frozen for one day.

Bars are coloured by the verdict (red: worse beyond noise, green: better, grey-blue: too few
observations to judge), so the charts and the words can never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from touchpulse.report import stats, svg
from touchpulse.report.model import SERVICE_LEVEL_GOAL, CallCounts, NpsCounts, ReportData
from touchpulse.report.svg import Bar, Line
from touchpulse.report.verdict import Verdict

STATUS_COLOR = {"better": svg.GOOD, "worse": svg.BAD, "steady": svg.BAR, "no-baseline": svg.BAR,
                "too-few": svg.BAR_LIGHT, "no-data": svg.BAR_LIGHT}
WIDTH = 580


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    svg: str
    caption: str


def _signed(v: float, digits: int = 0) -> str:
    return f"{v:.{digits}f}".replace("-", "\u2212")


def _pct(v: float) -> str:
    return f"{100 * v:.0f} %"


def _status(verdict: Verdict, metric: str, scope: str) -> str:
    for c in verdict.comparisons:
        if c.metric.key == metric and c.scope == scope:
            return c.status
    return "no-data"


def nps_by_touchpoint(data: ReportData, verdict: Verdict) -> Panel:
    rows = []
    for slug, w in data.nps.items():
        day, base = w.day.estimate(), w.base28.estimate()
        rows.append((day.value if day.value is not None else math.inf, slug, day, base))
    rows.sort(key=lambda r: (r[0], r[1]))  # worst first, touchpoints without answers on the day last
    bars = []
    for _, slug, day, base in rows:
        note = "no answers" if day.empty else f"{_signed(day.value)} \u00b1{day.moe:.0f} \u00b7 n {day.n}"
        bars.append(Bar(data.name(slug), day.value, day.moe, base.value, note,
                        STATUS_COLOR[_status(verdict, "nps", slug)]))
    chart = svg.hbar_chart(bars, label="NPS by touchpoint on the day, with 95 % margin of error", lo=-100, hi=100,
                           width=WIDTH, legend=[("box", svg.BAR, "day"), ("tick", svg.MARKER, "28-day NPS")])
    return Panel("nps-by-touchpoint", "NPS by touchpoint", chart,
                 "Own brand, worst first. Whiskers: 95 % margin of error; orange tick: the previous 28 days. "
                 "Red or green: changed beyond noise; pale: fewer than 20 answers.")


def nps_trend(data: ReportData) -> Panel:
    days = [data.day - timedelta(days=i) for i in range(27, -1, -1)]
    daily, lower, upper, rolling = [], [], [], []
    for d in days:
        e = data.nps_trend.get(d, NpsCounts()).estimate()
        daily.append(e.value)
        lower.append(None if e.empty else e.value - e.moe)
        upper.append(None if e.empty else e.value + e.moe)
        week = NpsCounts()
        for k in range(7):
            week = week + data.nps_trend.get(d - timedelta(days=k), NpsCounts())
        rolling.append(week.estimate().value)
    labels = [d.strftime("%d %b") for d in days]
    chart = svg.line_chart(labels, [Line("daily NPS", daily), Line("7-day NPS", rolling, svg.WHISKER, dashed=True)],
                           label="Own-brand NPS per day over 28 days, with its margin of error", band=(lower, upper),
                           tick_fmt=_signed, label_every=7, label_from_end=True, width=WIDTH,
                           legend=[("line", svg.BAR, "daily"), ("band", svg.BAR, "\u00b1 margin"),
                                   ("dash", svg.WHISKER, "7-day")])
    return Panel("nps-trend", "NPS trend", chart,
                 "Every own-brand answer, all touchpoints. The band is each day's 95 % margin of error; "
                 "the dashed line pools the 7 days up to each point.")


def service_level(data: ReportData, verdict: Verdict) -> Panel:
    bars = []
    def order(kv):
        value = kv[1].day.service_level().value
        return (2.0 if value is None else value, kv[0])

    for slug, w in sorted(data.calls.items(), key=order):
        sl: stats.Estimate = w.day.service_level()
        target = data.sla_seconds.get(slug)
        note = "no calls" if sl.empty else f"{_pct(sl.value)} \u00b7 {sl.n:,} calls"
        if target is not None:
            note += f" \u00b7 {target:g} s"
        bars.append(Bar(data.name(slug), sl.value, sl.moe, SERVICE_LEVEL_GOAL, note,
                        STATUS_COLOR[_status(verdict, "service_level", slug)]))
    chart = svg.hbar_chart(bars, label="Service level by touchpoint against target", lo=0, hi=1, tick_fmt=_pct,
                           width=WIDTH, note_width=150, legend=[("box", svg.BAR, "answered in time"),
                                                ("tick", svg.MARKER, f"goal {_pct(SERVICE_LEVEL_GOAL)}")])
    total = CallCounts()
    for w in data.calls.values():
        total = total + w.day
    overall = total.service_level()
    caption = "No inbound calls on the day."
    if not overall.empty:
        caption = (f"Share of calls answered within the touchpoint's target (seconds, right); calls abandoned within "
                   f"seconds are not counted. Overall {_pct(overall.value)} of {overall.n:,} calls.")
    return Panel("service-level", "Service level against target", chart, caption)


def missed_calls(data: ReportData) -> Panel:
    ref = data.missed_by_hour_base7
    unusual = [h for h in range(24) if data.missed_by_hour[h] - ref[h] > stats.Z95 * math.sqrt(max(ref[h], 1) * 8 / 7)]
    chart = svg.column_chart([f"{h:02d}" for h in range(24)], list(data.missed_by_hour),
                             reference=Line("average of the 7 days before", ref, svg.WHISKER, dashed=True),
                             highlight=unusual, label="Unanswered calls by hour of day", label_every=3,
                             tick_fmt=lambda v: f"{v:.0f}", width=WIDTH,
                             legend=[("box", svg.BAR, "day"), ("box", svg.HIGHLIGHT, "above usual"),
                                     ("dash", svg.WHISKER, "7-day average")])
    worst = max(range(24), key=lambda h: (data.missed_by_hour[h], -h))
    caption = (f"Inbound calls never answered, by hour ({data.zone_label}). Peak at {worst:02d}:00 with "
               f"{data.missed_by_hour[worst]:,} of {data.offered_by_hour[worst]:,} calls missed."
               if data.missed_by_hour[worst] else "No unanswered calls on the day.")
    if unusual:
        caption += " Highlighted hours are above the 7-day average beyond noise."
    return Panel("missed-calls", "Missed calls by hour", chart, caption)


def first_contact_resolution(data: ReportData, verdict: Verdict) -> list[Panel]:
    """FCR per touchpoint on its judged day (the latest whose repeat window has closed), worst first."""
    if data.resolution is None or not data.resolution.fcr:
        return []
    rows = []
    for slug, w in data.resolution.fcr.items():
        e = w.day.fcr()
        rows.append((2.0 if e.empty else e.value, slug, w, e))
    bars = []
    for _, slug, w, e in sorted(rows, key=lambda r: (r[0], r[1])):
        note = f"no calls \u00b7 {w.judged_day:%d %b}" if e.empty else \
            f"{_pct(e.value)} \u00b7 {e.n:,} \u00b7 {w.judged_day:%d %b}"
        bars.append(Bar(data.name(slug), e.value, e.moe, w.base28.fcr().value, note,
                        STATUS_COLOR[_status(verdict, "fcr", slug)]))
    chart = svg.hbar_chart(bars, label="First-contact resolution by touchpoint, with 95 % margin of error", lo=0,
                           hi=1, tick_fmt=_pct, width=WIDTH, note_width=150,
                           legend=[("box", svg.BAR, "judged day"), ("tick", svg.MARKER, "28 days before")])
    return [Panel("first-contact-resolution", "First-contact resolution", chart,
                  "Answered calls of known customers not followed by another call of theirs within the touchpoint's "
                  "repeat window, on the latest day whose window had closed by the end of the reported day (right: "
                  "that day, and the calls it rests on). Whiskers: 95 % margin of error; orange tick: the 28 days "
                  "before. Red or green: changed beyond noise; pale: fewer than 20 calls.")]


def reviews(data: ReportData) -> list[Panel]:
    items = sorted(data.reviews.items(), key=lambda kv: (kv[1].replied / kv[1].reviews if kv[1].reviews else 2, kv[0]))
    rate_bars, time_bars = [], []
    for slug, r in items:
        e = stats.proportion(r.replied, r.reviews)
        rate_bars.append(Bar(data.name(slug), e.value, e.moe, None,
                             f"{_pct(e.value)} of {r.reviews:,}" if not e.empty else "no reviews"))
        note = f"{r.reply_p50_hours:.0f} h \u00b7 {r.unanswered_past_target} late" if r.reply_p50_hours is not None \
            else "no replies"
        color = svg.BAD if r.reply_p50_hours is not None and r.reply_p50_hours > r.target_hours else svg.BAR
        time_bars.append(Bar(data.name(slug), r.reply_p50_hours, None, r.target_hours, note, color))
    rate = svg.hbar_chart(rate_bars, label="Review reply rate by touchpoint, last 28 days", lo=0, hi=1,
                          tick_fmt=_pct, width=WIDTH)
    times = svg.hbar_chart(time_bars, label="Median reply time by touchpoint against target, last 28 days", lo=0,
                           tick_fmt=lambda v: f"{v:.0f} h", width=WIDTH,
                           legend=[("box", svg.BAR, "median reply"), ("box", svg.BAD, "over target"),
                                   ("tick", svg.MARKER, "target")])
    return [Panel("review-reply-rate", "Reviews: reply rate", rate,
                  "Reviews posted in the 28 days up to the day that got a reply; recent reviews may still get one."),
            Panel("review-reply-time", "Reviews: reply time", times,
                  "Median hours from review to reply; orange tick: the touchpoint's reply target. "
                  "'late': still unanswered past the target.")]


def purchases(data: ReportData) -> list[Panel]:
    days = [data.day - timedelta(days=i) for i in range(27, -1, -1)]
    by_day = {o.day: o for o in data.orders}
    labels = [d.strftime("%d %b") for d in days]
    orders = [by_day[d].orders if d in by_day else None for d in days]
    checks = [by_day[d].revenue / by_day[d].orders if d in by_day and by_day[d].orders else None for d in days]
    repeat = [100 * by_day[d].repeat_customers / by_day[d].customers if d in by_day and by_day[d].customers else None
              for d in days]
    ochart = svg.column_chart(labels, orders, highlight=[len(days) - 1], label="Completed orders per day",
                              label_every=7, label_from_end=True, tick_fmt=lambda v: f"{v:,.0f}", width=WIDTH,
                              legend=[("box", svg.BAR, "orders"), ("box", svg.HIGHLIGHT, "the day")])
    cchart = svg.line_chart(labels, [Line("average check", checks), Line("repeat customers %", repeat, svg.GOOD)],
                            label=f"Average check ({data.currency}) and share of repeat customers per day", lo=0,
                            tick_fmt=lambda v: f"{v:,.0f}", label_every=7, label_from_end=True, width=WIDTH,
                            legend=[("line", svg.BAR, f"average check, {data.currency}"),
                                    ("line", svg.GOOD, "repeat customers, %")])
    today = by_day.get(data.day)
    caption = (f"On the day: {today.orders:,} orders, {today.revenue:,.2f} {data.currency} revenue, "
               f"{today.repeat_customers:,} of {today.customers:,} customers had bought before."
               if today else "No completed orders on the day.")
    return [Panel("orders", "Purchases: orders", ochart, caption),
            Panel("check", "Purchases: average check and loyalty", cchart,
                  f"Completed orders in {data.currency}; refunds excluded. Repeat customers: first order on an "
                  "earlier day.")]


def benchmark(data: ReportData) -> Panel:
    bars = []
    for brand, counts in sorted(data.benchmark.items(), key=lambda kv: (kv[0] != "own", kv[0])):
        e = counts.estimate()
        note = "no answers" if e.empty else f"{_signed(e.value)} \u00b1{e.moe:.0f} \u00b7 n {e.n}"
        bars.append(Bar(brand, e.value, e.moe, None, note, svg.HIGHLIGHT if brand == "own" else svg.BAR))
    chart = svg.hbar_chart(bars, label="Relationship NPS by brand, last 28 days", lo=-100, hi=100, width=WIDTH)
    return Panel("benchmark", "Competitor benchmark", chart,
                 "Relationship surveys over the 28 days up to the day; overlapping whiskers mean no real difference.")


def panels(data: ReportData, verdict: Verdict) -> list[Panel]:
    return [nps_by_touchpoint(data, verdict), nps_trend(data), service_level(data, verdict), missed_calls(data),
            *first_contact_resolution(data, verdict), *reviews(data), *purchases(data), benchmark(data)]
