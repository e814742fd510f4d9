"""Grafana-managed alert rules, in the provisioning API's shape (ProvisionedAlertRule).

Each rule is one ClickHouse table query returning a text `touchpoint` column and one number,
so Grafana evaluates it as one alert instance per touchpoint ("numeric data"), and a
threshold expression on that number. Only views are read, like the panels.

- NPS drop: the last 7 full business days against the 28 days before them, own brand.
  It fires when the drop exceeds the 95 % margin of error of the difference, so noise does
  not page anyone; both periods need at least MIN_RESPONSES answers.
- Service level: today's service level so far under the goal, once enough calls were offered.
- Reviews: any review unanswered past its touchpoint's reply target.
- Follow-ups: a touchpoint's open follow-ups past their due time exceed OVERDUE_FOLLOWUPS (the
  team is falling behind on its call backs; one late call back is not a page).
"""

from __future__ import annotations

from typing import Any

from touchpulse.dashboards.model import Context, dedent_sql, sql_string
from touchpulse.dashboards.sql import moe_expr, nps_expr

RULE_GROUP = "touchpulse"
GROUP_INTERVAL_SECONDS = 300
MIN_RESPONSES = 30
MIN_CALLS = 20
OVERDUE_FOLLOWUPS = 10


def alert_rules(ctx: Context, folder_uid: str) -> list[dict[str, Any]]:
    tz = sql_string(ctx.timezone)
    nps_sql = f"""
        SELECT touchpoint, (base_nps - recent_nps) - sqrt(pow(recent_moe, 2) + pow(base_moe, 2)) AS excess_drop
        FROM (
            SELECT touchpoint,
                {nps_expr('rp', 'rd', 'rn')} AS recent_nps, {moe_expr('rp', 'rd', 'rn')} AS recent_moe,
                {nps_expr('bp', 'bd', 'bn')} AS base_nps, {moe_expr('bp', 'bd', 'bn')} AS base_moe, rn, bn
            FROM (
                SELECT touchpoint,
                    sumIf(promoters, day >= d0 - 7) AS rp, sumIf(detractors, day >= d0 - 7) AS rd,
                    sumIf(responses, day >= d0 - 7) AS rn,
                    sumIf(promoters, day < d0 - 7) AS bp, sumIf(detractors, day < d0 - 7) AS bd,
                    sumIf(responses, day < d0 - 7) AS bn
                FROM {ctx.view('nps_daily')}
                WHERE brand = 'own' AND day >= d0 - 35 AND day < d0
                GROUP BY touchpoint
            )
            WHERE rn >= {MIN_RESPONSES} AND bn >= {MIN_RESPONSES}
        )"""
    nps_sql = f"WITH toDate(now(), {tz}) AS d0\n" + dedent_sql(nps_sql)
    sl_sql = f"""
        SELECT touchpoint,
            sum(answered_in_sla) / (toInt64(sum(offered)) - toInt64(sum(short_abandoned))) AS service_level
        FROM {ctx.view('calls_daily')}
        WHERE day = toDate(now(), {tz})
        GROUP BY touchpoint
        HAVING toInt64(sum(offered)) - toInt64(sum(short_abandoned)) >= {MIN_CALLS}"""
    reviews_sql = f"""
        SELECT touchpoint, toFloat64(count()) AS overdue
        FROM {ctx.view('reviews_overdue')}
        GROUP BY touchpoint"""
    followups_sql = f"""
        SELECT touchpoint, toFloat64(countIf(overdue = 1)) AS overdue
        FROM {ctx.view('followup_queue')}
        GROUP BY touchpoint"""
    target = ctx.service_level_target
    return [
        _rule(ctx, folder_uid, "touchpulse-nps-drop", "NPS dropped beyond its margin of error", nps_sql,
              days_back=36, evaluator=("gt", 0.0), pending="0s",
              summary="NPS of {{ $labels.touchpoint }} over the last 7 days is below its 28-day baseline "
                      "by more than the margin of error ({{ $values.A }} points beyond it).",
              severity="warning"),
        _rule(ctx, folder_uid, "touchpulse-service-level", "Service level under target", sl_sql,
              days_back=2, evaluator=("lt", target), pending="30m",
              summary=f"Service level of {{{{ $labels.touchpoint }}}} today is {{{{ $values.A }}}}, "
                      f"under the {target:.0%} goal.",
              severity="critical"),
        _rule(ctx, folder_uid, "touchpulse-reviews-overdue", "Reviews unanswered past target", reviews_sql,
              days_back=1, evaluator=("gt", 0.0), pending="0s",
              summary="{{ $labels.touchpoint }} has {{ $values.A }} reviews without a reply past the target.",
              severity="warning"),
        _rule(ctx, folder_uid, "touchpulse-followups-overdue", "Follow-ups overdue", followups_sql,
              days_back=1, evaluator=("gt", float(OVERDUE_FOLLOWUPS)), pending="0s",
              summary="{{ $labels.touchpoint }} has {{ $values.A }} follow-ups of low scores past their due time "
                      f"(more than {OVERDUE_FOLLOWUPS}): customers are waiting for a call back.",
              severity="warning"),
    ]


def _rule(ctx: Context, folder_uid: str, uid: str, title: str, sql: str, *, days_back: int,
          evaluator: tuple[str, float], pending: str, summary: str, severity: str) -> dict[str, Any]:
    query = {"datasource": ctx.ref, "editorType": "sql", "format": 1, "queryType": "table",
             "rawSql": dedent_sql(sql), "refId": "A"}
    threshold = {"conditions": [{"evaluator": {"params": [evaluator[1]], "type": evaluator[0]}}],
                 "datasource": {"type": "__expr__", "uid": "__expr__"}, "expression": "A", "refId": "C",
                 "type": "threshold"}
    return {
        "annotations": {"summary": summary},
        "condition": "C",
        "data": [
            {"datasourceUid": ctx.datasource_uid, "model": query, "queryType": "",
             "refId": "A", "relativeTimeRange": {"from": days_back * 86400, "to": 0}},
            {"datasourceUid": "__expr__", "model": threshold, "queryType": "",
             "refId": "C", "relativeTimeRange": {"from": 0, "to": 0}},
        ],
        "execErrState": "Error",
        "folderUID": folder_uid,
        "for": pending,
        "isPaused": False,
        "labels": {"service": "touchpulse", "severity": severity},
        "noDataState": "OK",
        "orgID": 1,
        "ruleGroup": RULE_GROUP,
        "title": title,
        "uid": uid,
    }

