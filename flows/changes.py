"""What changed between two snapshots of a metric view: rows added, removed and changed.

Pure. A snapshot maps (day, key) to the row's metric values, all normalised to JSON-safe
plain values (floats to 10 significant digits), so that recomputing an unchanged day never
reports float noise as a change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

Row = dict[str, Any]
Snapshot = dict[tuple[date, str], Row]


def plain(value: Any) -> Any:
    """A JSON-safe value that compares equal when the metric is the same."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, (float, Decimal)):
        f = float(value)
        if not math.isfinite(f):
            return None
        f = float(f"{f:.10g}")
        return int(f) if f.is_integer() and abs(f) < 2 ** 53 else f
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)


@dataclass(frozen=True)
class RowChange:
    day: date
    key: str
    columns: dict[str, tuple[Any, Any]]  # column -> (before, after)


@dataclass
class ViewDiff:
    view: str
    added: list[tuple[date, str]] = field(default_factory=list)
    removed: list[tuple[date, str]] = field(default_factory=list)
    changed: list[RowChange] = field(default_factory=list)
    unchanged: int = 0
    first_snapshot_days: list[date] = field(default_factory=list)  # no earlier snapshot to compare with
    first_snapshot_rows: int = 0

    @property
    def any_change(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def summary(self, examples: int = 3) -> list[str]:
        lines = [f"{self.view}: {len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} changed, "
                 f"{self.unchanged} unchanged"
                 + (f"; first snapshot for {len(self.first_snapshot_days)} period(s) ({self.first_snapshot_rows} rows)"
                    if self.first_snapshot_days else "")]
        for day, key in self.added[:examples]:
            lines.append(f"  + {day} {key}")
        for day, key in self.removed[:examples]:
            lines.append(f"  - {day} {key}")
        for ch in self.changed[:examples]:
            cols = ", ".join(f"{c} {_short(a)} -> {_short(b)}" for c, (a, b) in sorted(ch.columns.items()))
            lines.append(f"  ~ {ch.day} {ch.key}: {cols}")
        return lines

    def to_dict(self, examples: int = 10) -> dict[str, Any]:
        return {
            "view": self.view, "added": len(self.added), "removed": len(self.removed),
            "changed": len(self.changed), "unchanged": self.unchanged,
            "first_snapshot_days": [d.isoformat() for d in self.first_snapshot_days],
            "first_snapshot_rows": self.first_snapshot_rows,
            "examples": {
                "added": [{"day": d.isoformat(), "key": k} for d, k in self.added[:examples]],
                "removed": [{"day": d.isoformat(), "key": k} for d, k in self.removed[:examples]],
                "changed": [{"day": c.day.isoformat(), "key": c.key,
                             "columns": {n: {"before": a, "after": b} for n, (a, b) in sorted(c.columns.items())}}
                            for c in self.changed[:examples]],
            },
        }


def same(a: Any, b: Any) -> bool:
    """Equal, or floats equal to 1e-9 relative: ClickHouse sums floats in parallel, in any order."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def _short(v: Any) -> str:
    return "null" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))


def diff(view: str, before: Snapshot, after: Snapshot, snapshot_days: set[date]) -> ViewDiff:
    """Compare the new rows with the last snapshot; days never snapshotted before are only counted."""
    out = ViewDiff(view)
    first_days: set[date] = set()
    for (day, key), row in sorted(after.items()):
        if day not in snapshot_days:
            first_days.add(day)
            out.first_snapshot_rows += 1
            continue
        old = before.get((day, key))
        if old is None:
            out.added.append((day, key))
            continue
        cols = {c: (old.get(c), row.get(c)) for c in sorted(set(old) | set(row)) if not same(old.get(c), row.get(c))}
        if cols:
            out.changed.append(RowChange(day, key, cols))
        else:
            out.unchanged += 1
    out.removed = sorted(k for k in before if k not in after and k[0] in snapshot_days)
    out.first_snapshot_days = sorted(first_days)
    return out
