"""The simulated world the flow tests share (imported by conftest.py and the test modules)."""

from datetime import date

DB = "flows_it"
TZ = "Europe/Moscow"
END = date(2025, 3, 17)  # a Monday: the report compares it with the four Mondays before
DAYS = 30
