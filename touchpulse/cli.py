"""The `touchpulse` command. Each subcommand is a thin adapter over the library.

Commands from other packages (flows, dashboards, bench, dlq) register themselves through a
`register(subparsers)` function, so this file only knows their names.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Callable

from touchpulse.errors import UserError
from touchpulse.settings import Settings, SettingsError, load_settings

log = logging.getLogger("touchpulse")

# Modules that add their own subcommands via register(subparsers).
PLUGINS = (
    "touchpulse.commands.core",
    "touchpulse.commands.dlq",
    "touchpulse.commands.followups",
    "touchpulse.dashboards.cli",
    "touchpulse.flows.cli",
    "touchpulse.bench.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="touchpulse",
        description="Service metrics from Kafka events: calls, purchases, reviews and NPS surveys, "
                    "validated by a Faust worker into ClickHouse views and Grafana dashboards. "
                    "Settings come from TOUCHPULSE_* environment variables (see `touchpulse config`).")
    from touchpulse import __version__
    parser.add_argument("--version", action="version", version=f"touchpulse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in PLUGINS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that part is not installed in this build
            raise
        module.register(sub)
    return parser


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    for noisy in ("kafka", "aiokafka", "faust", "mode", "urllib3", "httpx", "prefect", "clickhouse_connect"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace, Settings], int] | None = getattr(args, "func", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        settings = load_settings()
        setup_logging(settings.log_level)
        return int(handler(args, settings) or 0)
    except (UserError, SettingsError) as exc:
        print(f"touchpulse: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    except KeyboardInterrupt:
        print("touchpulse: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # services down and the like: one line, the details in the log at DEBUG
        from touchpulse.errors import describe_service_error
        message = describe_service_error(exc)
        if message is None:
            raise
        log.debug("details", exc_info=True)
        print(f"touchpulse: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
