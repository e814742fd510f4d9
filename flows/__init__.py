"""Prefect flows: dashboards refresh, daily report, backfill."""
