"""`touchpulse bench`: throughput, freshness, query speed and memory of touchpulse, measured in
one run on this machine against its own physical limit (a bare consumer) and against the
obvious one-event-at-a-time pipeline (see benchmarks/README.md)."""
