"""The image the compose file builds, and infra/new-env.sh, checked without Docker.

A non-editable `pip install .` ships only the packages pyproject lists, so a subpackage missing
from that list works in the dev venv (editable install) and breaks in the image: checked here.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def instructions(name: str) -> list[str]:
    return [line.split(None, 1)[1] for line in DOCKERFILE.splitlines() if line.startswith(name + " ")]


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_image_is_python_311_slim_installing_the_project_as_an_unprivileged_user():
    assert instructions("FROM") == ["python:3.11-slim"]
    assert any(re.search(r"\bpip install \.(\s|$)", run) for run in instructions("RUN"))
    users = instructions("USER")
    assert users and users[-1] not in ("root", "0")
    assert instructions("ENTRYPOINT") == ['["touchpulse"]']


def test_the_image_copies_everything_pip_install_needs_and_dockerignore_keeps_it():
    copied = {part.rstrip("/").removeprefix("./") for line in instructions("COPY") for part in line.split()[:-1]
              if not part.startswith("--")}
    needed = {"pyproject.toml", PYPROJECT["project"]["readme"]}
    needed |= {source for source in PYPROJECT["tool"]["setuptools"]["package-dir"].values()}
    assert needed <= copied, f"not copied into the image: {needed - copied}"
    ignored = set(dockerignore())
    assert not needed & ignored
    assert {".git", ".venv", ".env", "tests"} <= ignored, "the build context must not carry these"


def test_every_python_package_in_the_tree_is_listed_for_the_non_editable_install():
    mapping = PYPROJECT["tool"]["setuptools"]["package-dir"]
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = set()
    for package, source in mapping.items():
        base = ROOT / source
        for init in base.rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            rel = init.parent.relative_to(base)
            found.add(".".join([package, *rel.parts]) if rel.parts else package)
    assert found, "no packages found"
    assert found <= listed, f"packages `pip install .` would leave out of the image: {sorted(found - listed)}"


def test_the_image_paths_are_the_ones_compose_mounts():
    services = yaml.safe_load((ROOT / "infra/compose.yaml").read_text())["services"]
    home = re.search(r"^ENV TOUCHPULSE_HOME=(\S+)$", DOCKERFILE, re.M).group(1)
    assert services["scheduler"]["environment"]["TOUCHPULSE_HOME"] == home
    assert f"touchpulse-home:{home}" in services["scheduler"]["volumes"]
    token_file = services["grafana-token"]["environment"]["TOKEN_FILE"]
    secrets_dir = str(Path(token_file).parent)
    assert secrets_dir in DOCKERFILE, "the image must create the secrets directory for the volume"
    assert f"touchpulse-secrets:{secrets_dir}" in services["grafana-token"]["volumes"]
    assert any(v.startswith(f"touchpulse-secrets:{secrets_dir}") for v in services["scheduler"]["volumes"])
    assert token_file in " ".join(services["scheduler"]["command"])


def test_new_env_fills_every_empty_secret_once_and_keeps_what_is_set(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("CLICKHOUSE_ROOT_PASSWORD=mine\nGRAFANA_ADMIN_PASSWORD=\n# CLICKHOUSE_ADMIN_PASSWORD=\n"
                        "CLICKHOUSE_ADMIN_PASSWORD=\nCLICKHOUSE_WRITER_PASSWORD=\nCLICKHOUSE_READER_PASSWORD=\n"
                        "CLICKHOUSE_CLUSTER_SECRET=\nGRAFANA_PORT=3000\n")
    script = str(ROOT / "infra/new-env.sh")
    out = subprocess.run(["sh", script, str(env_file)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if not line.startswith("#"))
    assert values["CLICKHOUSE_ROOT_PASSWORD"] == "mine"
    assert values["GRAFANA_PORT"] == "3000"
    generated = [values[k] for k in ("GRAFANA_ADMIN_PASSWORD", "CLICKHOUSE_ADMIN_PASSWORD",
                                     "CLICKHOUSE_WRITER_PASSWORD", "CLICKHOUSE_READER_PASSWORD",
                                     "CLICKHOUSE_CLUSTER_SECRET")]
    assert all(re.fullmatch(r"[0-9a-f]{48}", v) for v in generated)
    assert len(set(generated)) == len(generated)
    assert "# CLICKHOUSE_ADMIN_PASSWORD=" in env_file.read_text(), "comments are kept as they are"
    assert "GRAFANA_ADMIN_PASSWORD" in out.stdout and values["GRAFANA_ADMIN_PASSWORD"] not in out.stdout
    assert stat.S_IMODE(os.stat(env_file).st_mode) == 0o600
    before = env_file.read_text()
    subprocess.run(["sh", script, str(env_file)], check=True, capture_output=True, timeout=30)
    assert env_file.read_text() == before


def test_new_env_starts_from_the_example_when_there_is_no_env_file(tmp_path):
    infra = tmp_path / "infra"
    infra.mkdir()
    for name in ("new-env.sh", ".env.example"):
        (infra / name).write_bytes((ROOT / "infra" / name).read_bytes())
    subprocess.run(["sh", str(infra / "new-env.sh")], check=True, capture_output=True, timeout=30)
    created = (infra / ".env").read_text()
    example = (ROOT / "infra/.env.example").read_text()
    assert len(created.splitlines()) == len(example.splitlines())
    assert not re.search(r"^\w*(PASSWORD|SECRET)=$", created, re.M)
