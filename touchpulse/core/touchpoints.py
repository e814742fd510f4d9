"""The touchpoint registry: a TOML data file of touchpoints and their service targets.

Unknown touchpoints are valid (the contract accepts any slug) and fall back to the defaults.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from touchpulse.core.events import SLUG

TARGET_FIELDS = ("sla_answer_seconds", "short_abandon_seconds", "review_reply_hours", "followup_hours",
                 "repeat_window_hours", "callback_minutes")
CONTRACT_DEFAULTS = {"sla_answer_seconds": 20.0, "short_abandon_seconds": 5.0,
                     "review_reply_hours": 24.0, "followup_hours": 48.0,
                     "repeat_window_hours": 72.0, "callback_minutes": 60.0}
# What service level divides by (docs/metrics.md, calls_daily).
SERVICE_LEVEL_BASES = ("offered_less_short", "offered", "answered")
DEFAULT_SERVICE_LEVEL_BASE = "offered_less_short"
MAX_TARGET = 1_000_000


class RegistryError(ValueError):
    """The registry file is unreadable or breaks its own rules."""


@dataclass(frozen=True)
class Targets:
    sla_answer_seconds: float
    short_abandon_seconds: float
    review_reply_hours: float
    followup_hours: float
    repeat_window_hours: float = CONTRACT_DEFAULTS["repeat_window_hours"]
    callback_minutes: float = CONTRACT_DEFAULTS["callback_minutes"]
    service_level_base: str = DEFAULT_SERVICE_LEVEL_BASE


@dataclass(frozen=True)
class Touchpoint:
    slug: str
    name: str
    channel: str
    targets: Targets


@dataclass(frozen=True)
class Registry:
    defaults: Targets
    touchpoints: dict[str, Touchpoint] = field(default_factory=dict)

    def targets(self, slug: str) -> Targets:
        tp = self.touchpoints.get(slug)
        return tp.targets if tp else self.defaults

    @property
    def slugs(self) -> list[str]:
        return sorted(self.touchpoints)


def default_registry_path() -> Path:
    return Path(str(resources.files("touchpulse") / "data" / "touchpoints.toml"))


def load_registry(path: str | Path | None = None) -> Registry:
    path = Path(path) if path else default_registry_path()
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(f"touchpoint registry {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RegistryError(f"touchpoint registry {path} is not valid TOML: {exc}") from None
    return parse_registry(doc, str(path))


def parse_registry(doc: dict, origin: str = "registry") -> Registry:
    for section in ("defaults", "touchpoints"):
        if not isinstance(doc.get(section, {}), dict):
            raise RegistryError(f"{origin} [{section}]: must be a table")
    contract = {**CONTRACT_DEFAULTS, "service_level_base": DEFAULT_SERVICE_LEVEL_BASE}
    defaults = Targets(**_targets(doc.get("defaults", {}), contract, f"{origin} [defaults]"))
    touchpoints = {}
    for slug, entry in (doc.get("touchpoints") or {}).items():
        where = f"{origin} [touchpoints.{slug}]"
        if not SLUG.fullmatch(slug):
            raise RegistryError(f"{where}: '{slug}' is not a touchpoint slug (^[a-z][a-z0-9_]{{0,63}}$)")
        if not isinstance(entry, dict):
            raise RegistryError(f"{where}: must be a table")
        targets = Targets(**_targets(entry, defaults.__dict__, where))
        touchpoints[slug] = Touchpoint(slug, str(entry.get("name", slug)), str(entry.get("channel", "")), targets)
    return Registry(defaults, touchpoints)


def _targets(entry: dict, fallback: dict, where: str) -> dict:
    out: dict = {}
    base = entry.get("service_level_base", fallback["service_level_base"])
    if base not in SERVICE_LEVEL_BASES:
        raise RegistryError(f"{where}: service_level_base must be one of {', '.join(SERVICE_LEVEL_BASES)}, "
                            f"got {base!r}")
    out["service_level_base"] = base
    for name in TARGET_FIELDS:
        value = entry.get(name, fallback[name])
        # TOML allows nan/inf; the cap keeps "occurred_at + followup_hours" from overflowing.
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or not 0 <= value <= MAX_TARGET):
            raise RegistryError(f"{where}: {name} must be a number from 0 to {MAX_TARGET:g}, got {value!r}")
        out[name] = float(value)
    return out
