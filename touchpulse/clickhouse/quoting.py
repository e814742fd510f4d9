"""Quoting for the few places where SQL text cannot take bound parameters (identifiers, DDL)."""

from __future__ import annotations


def q(identifier: str) -> str:
    """Quote an identifier with backticks (settings are validated as identifiers too)."""
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


def literal(text: str) -> str:
    """A ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
