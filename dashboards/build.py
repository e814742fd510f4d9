"""Build every dashboard's JSON model, and write them as files for Grafana's file provisioning.

Deterministic: the same touchpoints and settings give byte-identical JSON, so the generated
copies in infra/ only change in review when a dashboard really changed, and provisioning
can tell "nothing changed" by comparison.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from touchpulse.core.events import SLUG
from touchpulse.dashboards import closed_loop, contact_centre, loyalty, nps, pipeline, reviews, touchpoint
from touchpulse.dashboards.model import Context

DEFAULT_DATASOURCE_UID = "touchpulse-clickhouse"
BUILDERS = (nps, touchpoint, contact_centre, closed_loop, reviews, loyalty, pipeline)


def build_all(touchpoints: Iterable[str], datasource_uid: str = DEFAULT_DATASOURCE_UID,
              database: str = "touchpulse", *, timezone: str = "UTC",
              service_level_target: float = 0.8) -> dict[str, dict[str, Any]]:
    """uid -> dashboard model. `timezone` is the business zone: days on the x axes start there."""
    slugs = sorted(set(touchpoints))
    for slug in slugs:
        if not isinstance(slug, str) or not SLUG.fullmatch(slug):
            raise ValueError(f"touchpoint {slug!r} is not a slug (^[a-z][a-z0-9_]{{0,63}}$)")
    ctx = Context(datasource_uid=datasource_uid, database=database, timezone=timezone,
                  touchpoints=tuple(slugs), service_level_target=service_level_target)
    models = {}
    for module in BUILDERS:
        model = module.build(ctx)
        models[model["uid"]] = model
    return dict(sorted(models.items()))


def render(model: dict[str, Any]) -> str:
    """The canonical text of a model: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(model, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_all(out_dir: Path, touchpoints: Iterable[str], datasource_uid: str = DEFAULT_DATASOURCE_UID,
              database: str = "touchpulse", **options: Any) -> list[Path]:
    """Write `<uid>.json` per dashboard; files whose content is unchanged are left untouched."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for uid, model in build_all(touchpoints, datasource_uid, database, **options).items():
        path = out_dir / f"{uid}.json"
        content = render(model)
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
        paths.append(path)
    return paths


def panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows, in layout order."""
    out = []
    for panel in model.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def repeated_by(model: dict[str, Any]) -> dict[int, str]:
    """panel id -> the variable its row repeats over (panels below a repeated row, up to the next row)."""
    out, current = {}, None
    for panel in model.get("panels", []):
        if panel.get("type") == "row":
            current = panel.get("repeat")
            for inner in panel.get("panels", []):
                if current:
                    out[inner["id"]] = current
        elif current:
            out[panel["id"]] = current
    return out
