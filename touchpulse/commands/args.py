"""Argument types shared by the subcommands: argparse turns their errors into one-line messages."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Callable


def integer(minimum: int) -> Callable[[str], int]:
    """An integer of at least `minimum` ('1_000' allowed)."""
    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be at least {minimum}")
        return value
    parse.__name__ = "integer"
    return parse


def day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day in the form YYYY-MM-DD") from None
