"""The bench's result as a table, with the project's targets beside each figure."""

from __future__ import annotations

# key -> (label, unit, target, higher is better)
ROWS: tuple[tuple[str, str, str, float | None, bool], ...] = (
    ("produce_eps", "produce (librdkafka, acks=all)", "events/s", 50_000, True),
    ("raw_consume_eps", "limit: bare aiokafka + orjson.loads", "events/s", None, True),
    ("naive_eps", "naive: one event, one insert", "events/s", None, True),
    ("pipeline_eps", "touchpulse worker --drain", "events/s", 20_000, True),
    ("pipeline_wall_eps", "  same, including process start", "events/s", None, True),
    ("pipeline_eps_under_reads", "  same, dashboards reading the worker", "events/s", None, True),
    ("under_reads_ratio", "  under reads / quiet", "", 0.8, True),
    ("ratio", "pipeline / limit", "", 0.5, True),
    ("freshness_p50_s", "freshness p50 (produce -> committed)", "s", None, False),
    ("freshness_p99_s", "freshness p99", "s", 3, False),
    ("view_freshness_p50_s", "view freshness p50 (produce -> in view)", "s", None, False),
    ("view_freshness_p99_s", "view freshness p99", "s", 2, False),
    ("batch_maintenance_ms_1m", "per-batch maintenance, 1M facts", "ms", None, False),
    ("batch_maintenance_ms_10m", "per-batch maintenance, 10M facts", "ms", None, False),
    ("history_cost_ratio", "  10M / 1M", "", 1.5, False),
    ("query_p50_ms", "dashboard query p50", "ms", None, False),
    ("query_p95_ms", "dashboard query p95", "ms", 100, False),
    ("worker_rss_mb", "worker peak RSS", "MB", 1000, False),
    ("idle_worker_cpu_pct", "idle worker CPU", "% core", 5, False),
)


def _fmt(value) -> str:
    if value is None:
        return "skipped"
    if isinstance(value, float) and value < 100:
        return f"{value:,.3g}" if value < 10 else f"{value:,.1f}"
    return f"{value:,.0f}"


def table(result: dict) -> str:
    lines = [f"{'measure':40} {'value':>12} {'unit':9} {'target':>10}  verdict", "-" * 84]
    for key, label, unit, target, higher in ROWS:
        value = result.get(key)
        verdict = ""
        if target is not None and value is not None:
            verdict = "meets" if (value >= target if higher else value <= target) else "MISSES"
        goal = "" if target is None else (">= " if higher else "<= ") + f"{target:,}"
        lines.append(f"{label:40} {_fmt(value):>12} {unit:9} {goal:>10}  {verdict}")
    m = result.get("machine", {})
    lines += ["", f"{result.get('events', 0):,} events; {m.get('cpu_count')} CPUs ({m.get('cpu_model')}), "
                  f"Python {m.get('python')}; load average {_load(m.get('loadavg_start'))} at start, "
                  f"{_load(m.get('loadavg_end'))} at end"]
    return "\n".join(lines) + "\n"


def _load(values) -> str:
    return "/".join(f"{v:.1f}" for v in values) if values else "?"


def main(argv: list[str] | None = None) -> int:
    """`python -m touchpulse.bench.report RESULT.json`: the table of a saved `bench --json` result."""
    import json
    import sys
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m touchpulse.bench.report RESULT.json", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        sys.stdout.write(table(json.load(f)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
