#!/usr/bin/env bash
# The full bench with defaults, plus a py-spy profile of `worker --drain`; keeps the JSON and the
# profile under benchmarks/results/<UTC time>/ and prints the table. Extra arguments go to
# `touchpulse bench` (e.g. --events 100000 --skip-queries for a quick run).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
out="benchmarks/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
"$PY" -m touchpulse.cli bench --json --profile "$out/profile" "$@" > "$out/bench.json"
"$PY" -m touchpulse.bench.report "$out/bench.json"
echo "result: $out/bench.json; profile summary: $out/profile/worker-drain.txt" >&2
