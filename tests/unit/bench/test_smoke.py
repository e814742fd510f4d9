"""`touchpulse bench --json` end to end with tiny sizes: every step runs and reports figures.
Not a timed test: it checks the harness, not the machine (sizes too small to mean anything)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

KEYS = ("raw_consume_eps", "naive_eps", "pipeline_eps", "ratio", "freshness_p50_s", "freshness_p99_s",
        "query_p50_ms", "query_p95_ms", "worker_rss_mb", "events", "produce_eps", "pipeline_wall_eps",
        "view_freshness_p50_s", "view_freshness_p99_s", "batch_maintenance_ms_1m", "batch_maintenance_ms_10m",
        "history_cost_ratio", "idle_worker_cpu_pct", "pipeline_eps_under_reads", "under_reads_ratio")


def bench(tmp_path, *args: str, timeout: float = 420) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHPULSE_")}
    env["TOUCHPULSE_KAFKA"] = "127.0.0.1:1"  # the user's settings must not leak into the bench
    return subprocess.run([sys.executable, "-m", "touchpulse.cli", "bench", "--work-dir", str(tmp_path), *args],
                          capture_output=True, env=env, cwd=tmp_path, timeout=timeout)


@pytest.mark.integration
def test_tiny_bench_reports_every_figure(tmp_path):
    proc = bench(tmp_path, "--events", "600", "--naive-events", "40", "--freshness-seconds", "1",
                 "--freshness-rate", "300", "--query-rows", "3000", "--query-repeats", "1",
                 "--query-budget", "4", "--maintenance-facts", "3000,6000", "--maintenance-batches", "1",
                 "--idle-seconds", "2", "--json")
    assert proc.returncode == 0, proc.stderr.decode()[-4000:]
    result = json.loads(proc.stdout)
    for key in KEYS:  # an idle worker may use less than one clock tick in the 2 s watched
        least = 0 if key == "idle_worker_cpu_pct" else 1e-9
        assert isinstance(result[key], (int, float)) and result[key] >= least, (key, result[key])
    assert result["events"] == 600
    d = result["details"]
    assert d["raw_consume"]["messages"] == 600
    assert d["naive"]["events"] == 40
    assert d["drain"]["batches"] >= 1
    assert d["reads"]["queries"] >= 1 and d["reads"]["errors"] == {} and d["reads"]["client_failure"] is None
    assert result["worker_rss_mb"] == max(d["drain"]["peak_rss_mb"], d["freshness"]["worker_peak_rss_mb"],
                                          d["reads"]["peak_rss_mb"])
    # chDB's library mapped from disk: part of the RSS, well below all of it
    assert 0 < d["drain"]["peak_rss_file_mb"] < d["drain"]["peak_rss_mb"]
    assert 0 < d["freshness"]["worker_peak_rss_file_mb"] < d["freshness"]["worker_peak_rss_mb"]
    assert d["freshness"]["produced"] == 300 and d["freshness"]["rows"] >= 290  # a few are dead letters
    assert d["freshness"]["p99_s"] >= d["freshness"]["p50_s"] > 0
    assert d["history"]["tables"]["surveys"]["rows"] == 3000 and d["queries"]["timings"] >= 1
    assert d["freshness"]["view_events"] >= 290 and result["view_freshness_p99_s"] >= result["view_freshness_p50_s"]
    assert d["maintenance"]["1m"]["history_facts"] < d["maintenance"]["10m"]["history_facts"]
    assert d["idle"]["seconds"] >= 2
    assert result["query_p95_ms"] >= result["query_p50_ms"]
    assert result["machine"]["cpu_count"] >= 1 and result["machine"]["python"].startswith("3.")
    assert "bench" in proc.stderr.decode()  # progress in words on stderr
    assert list(tmp_path.iterdir()) == [], "the temporary directory was not removed"


def test_bad_arguments_are_one_line_errors(tmp_path):
    proc = bench(tmp_path, "--events", "0")
    assert proc.returncode == 2 and b"must be at least 1" in proc.stderr and b"Traceback" not in proc.stderr
    proc = bench(tmp_path, "--work-dir", str(tmp_path / "missing"))
    assert proc.returncode == 1 and b"Traceback" not in proc.stderr
    assert proc.stderr.decode().strip().splitlines()[-1].startswith("touchpulse: error: --work-dir")
