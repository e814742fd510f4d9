"""`touchpulse dashboards build`: files for Grafana's file provisioning, one-line errors."""

from __future__ import annotations

import json

import pytest

from touchpulse.cli import main


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    for key in list(__import__("os").environ):
        if key.startswith("TOUCHPULSE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("TOUCHPULSE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_build_writes_every_dashboard_for_the_registry_touchpoints(tmp_path, capsys):
    assert main(["dashboards", "build", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out.split()
    assert len(printed) == 7 and all(p.endswith(".json") for p in printed)
    nps = json.loads((tmp_path / "out" / "touchpulse-nps.json").read_text())
    var = nps["templating"]["list"][0]["query"]
    assert "'field_engineers'" in var and "'social_media'" in var  # from the bundled registry


def test_build_uses_the_settings_database_and_zone_and_given_touchpoints(tmp_path, monkeypatch):
    monkeypatch.setenv("TOUCHPULSE_DATABASE", "metrics")
    monkeypatch.setenv("TOUCHPULSE_TIMEZONE", "Europe/Moscow")
    assert main(["dashboards", "build", "--out", str(tmp_path / "o"), "--touchpoint", "kiosk",
                 "--touchpoint", "billing"]) == 0
    model = json.loads((tmp_path / "o" / "touchpulse-contact-centre.json").read_text())
    assert model["timezone"] == "Europe/Moscow"
    assert "arrayJoin(['billing', 'kiosk'])" in model["templating"]["list"][0]["query"]
    assert "metrics.calls_daily" in json.dumps(model) and "touchpulse.calls_daily" not in json.dumps(model)


@pytest.mark.parametrize("argv, message", [
    (["--touchpoint", "Not A Slug"], "touchpoint 'Not A Slug' is not a slug"),
    (["--service-level-target", "80"], "service_level_target must be in (0, 1]"),
])
def test_user_mistakes_are_one_line_errors(tmp_path, capsys, argv, message):
    assert main(["dashboards", "build", "--out", str(tmp_path / "x"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_an_unwritable_output_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["dashboards", "build", "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("touchpulse: error: cannot write to") and err.count("\n") == 1


def test_a_missing_registry_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TOUCHPULSE_TOUCHPOINTS", str(tmp_path / "missing.toml"))
    assert main(["dashboards", "build", "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
