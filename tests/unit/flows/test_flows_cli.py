"""`touchpulse flow ...`: options checked before anything starts, one-line errors, no tracebacks."""

import pytest

from touchpulse.cli import main
from touchpulse.flows.catalog import FLOWS


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_SERVER_ANALYTICS_ENABLED", "TOUCHPULSE_CLICKHOUSE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TOUCHPULSE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TOUCHPULSE_TIMEZONE", "Europe/Moscow")


def run(capsys, *argv):
    code = main(["flow", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_flow_with_its_schedule_in_the_business_zone(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    for name, info in FLOWS.items():
        line = next(x for x in out.splitlines() if x.startswith(name))
        assert (f"cron '{info.cron}' Europe/Moscow" if info.cron else "on demand") in line
    assert FLOWS["refresh-dashboards"].cron == "*/15 * * * *" and FLOWS["daily-report"].cron == "0 7 * * *"


@pytest.mark.parametrize("argv,message", [
    (["backfill", "--day", "2024-06-01"], "--day does not apply to backfill"),
    (["daily-report", "--from", "2024-06-01", "--to", "2024-06-02"], "--from and --to do not apply to daily-report"),
    (["refresh-dashboards", "--day", "2024-06-01"], "--day does not apply to refresh-dashboards"),
    (["backfill", "--from", "2024-06-01"], "backfill needs --from YYYY-MM-DD and --to YYYY-MM-DD"),
    (["backfill", "--from", "2024-06-05", "--to", "2024-06-01"], "--from 2024-06-05 is after --to 2024-06-01"),
    (["backfill", "--from", "2000-01-01", "--to", "2024-06-01"], "a backfill covers at most"),
])
def test_wrong_options_fail_in_one_line_before_touching_anything(capsys, tmp_path, argv, message):
    code, out, err = run(capsys, "run", *argv)
    assert code == 2 and out == ""
    assert err.startswith("touchpulse: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "home").exists()  # no ClickHouse opened, no Prefect started


@pytest.mark.parametrize("argv", [["run", "nope"], ["run", "daily-report", "--day", "2024-13-01"], []])
def test_argparse_rejects_unknown_flows_and_bad_dates(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(["flow", *argv])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_serve_without_a_prefect_server_says_how_to_get_one(capsys, tmp_path):
    code, _, err = run(capsys, "serve")
    assert code == 2
    assert "flow serve needs a Prefect server: set PREFECT_API_URL" in err and "make prefect-server" in err
    assert err.count("\n") == 1
    assert (tmp_path / "home" / "prefect").is_dir()  # Prefect's home defaults under TOUCHPULSE_HOME


def test_serve_with_a_dead_server_fails_fast_in_one_line(capsys, monkeypatch):
    import socket
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{port}/api")
    code, _, err = run(capsys, "serve")
    assert code == 2
    assert f"no Prefect server answered at http://127.0.0.1:{port}/api" in err.splitlines()[-1]
