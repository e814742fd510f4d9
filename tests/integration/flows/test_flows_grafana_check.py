"""`flow run refresh-dashboards` checks Grafana before it starts, so mistakes are one line."""

from dataclasses import replace

import pytest

from tests.support.fake_grafana import FakeGrafana
from touchpulse.dashboards.provision import ProvisionError
from touchpulse.flows.refresh import check_grafana

pytestmark = pytest.mark.integration


def test_grafana_not_configured_is_fine(flow_settings):
    assert flow_settings.grafana_url is None
    check_grafana(flow_settings)  # files only: nothing to check


def test_a_wrong_token_is_named(flow_settings):
    with FakeGrafana(token="right") as grafana:
        check_grafana(replace(flow_settings, grafana_url=grafana.url, grafana_token="right"))
        with pytest.raises(ProvisionError, match=r"rejected the token \(401\): set TOUCHPULSE_GRAFANA_TOKEN"):
            check_grafana(replace(flow_settings, grafana_url=grafana.url, grafana_token="wrong"))
        assert grafana.state.writes == []


def test_embedded_chdb_cannot_be_a_grafana_datasource(flow_settings):
    with FakeGrafana(token="right") as grafana:
        settings = replace(flow_settings, grafana_url=grafana.url, grafana_token="right",
                           clickhouse="chdb:///var/lib/touchpulse/clickhouse")
        with pytest.raises(ProvisionError, match="embedded chDB cannot be shared with Grafana"):
            check_grafana(settings)


def test_grafana_down_is_one_line(flow_settings):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ProvisionError, match=f"cannot use Grafana at http://127.0.0.1:{port}"):
        check_grafana(replace(flow_settings, grafana_url=f"http://127.0.0.1:{port}", grafana_token="t"))
