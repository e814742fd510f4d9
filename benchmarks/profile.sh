#!/usr/bin/env bash
# Only the pipeline part, profiled: pre-load N events (default 300000), drain them once for the
# figures and once more under py-spy, and print where the worker's time goes.
# Needs py-spy in the venv (pip install py-spy). Open the .raw file in https://www.speedscope.app
# (it reads py-spy's collapsed stacks) for a flame graph.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
events=${1:-300000}
out="benchmarks/results/profile-$(date -u +%Y%m%dT%H%M%SZ)"
"$PY" -m touchpulse.cli bench --events "$events" --skip-naive --skip-freshness --skip-queries \
    --profile "$out" > /dev/null
cat "$out/worker-drain.txt"
