"""Real local broker and per-test pipelines (see tests/support/pipeline.py)."""

from tests.support.pipeline import local_broker, pipeline  # noqa: F401  (pytest fixtures)
