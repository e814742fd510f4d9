"""The HTTP interface's request decoding, errors and compression, without a server."""

from __future__ import annotations

import base64

import pytest
from urllib3 import encode_multipart_formdata

from touchpulse.serve.protocol import (ClickHouseError, choose_encoding, compress, content_type, credentials,
                                       decompress, http_status, parse_request)


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_credentials_come_from_headers_basic_auth_or_parameters():
    assert credentials({"X-ClickHouse-User": "u", "X-ClickHouse-Key": "k"}, {}) == ("u", "k")
    assert credentials(basic("grafana", "p:w"), {}) == ("grafana", "p:w")  # a colon in the password stays
    assert credentials({}, {"user": "a", "password": "b"}) == ("a", "b")
    assert credentials({}, {}) == ("default", "")
    with pytest.raises(ClickHouseError) as info:
        credentials({"Authorization": "Basic !!!"}, {})
    assert info.value.code == 516
    with pytest.raises(ClickHouseError):
        credentials({"Authorization": "Bearer abc"}, {})


def test_a_request_as_clickhouse_connect_sends_it():
    qs = ("database=touchpulse&date_time_input_format=best_effort&enable_http_compression=1&wait_end_of_query=1"
          "&session_id=abc&client_protocol_version=54405&param_day=2026-01-01&query_id=q1")
    r = parse_request(qs, {**basic("touchpulse", "pw"), "Accept-Encoding": "lz4,zstd,gzip,deflate"},
                      b"SELECT * FROM nps_daily WHERE day >= {day:Date}\n FORMAT Native")
    assert r.sql == "SELECT * FROM nps_daily WHERE day >= {day:Date}\n FORMAT Native"
    assert (r.database, r.query_id, r.protocol_version, r.user, r.password) == ("touchpulse", "q1", 54405,
                                                                               "touchpulse", "pw")
    assert r.params == {"day": "2026-01-01"}
    assert r.settings == {"date_time_input_format": "best_effort", "enable_http_compression": "1"}
    assert r.accept_encoding == "lz4,zstd,gzip,deflate" and not r.native_compress


def test_a_request_as_clickhouse_go_sends_it():
    """Grafana's plugin over HTTP: credentials in the URL (basic auth), default_format=Native, its protocol
    revision, custom settings as parameters, gzip."""
    r = parse_request("database=touchpulse&default_format=Native&client_protocol_version=54460&max_execution_time=50",
                      {**basic("touchpulse", "pw"), "Accept-Encoding": "gzip"}, b"SELECT 1")
    assert (r.default_format, r.protocol_version, r.settings) == ("Native", 54460, {"max_execution_time": "50"})


def test_query_parameter_and_body_are_joined_and_form_bodies_read():
    assert parse_request("query=SELECT", {}, b"1").sql == "SELECT\n1"
    assert parse_request("query=SELECT+1", {}, b"").sql == "SELECT 1"
    body, ctype = encode_multipart_formdata({"query": "SELECT {x:String}", "param_x": "a\\tb"})
    r = parse_request("", {"Content-Type": ctype}, body)
    assert r.sql == "SELECT {x:String}" and r.params == {"x": "a\\tb"}
    body, ctype = encode_multipart_formdata({"query": "SELECT * FROM ext", "ext": ("ext.bin", b"\x00", "x/y")})
    with pytest.raises(ClickHouseError) as info:
        parse_request("ext_structure=a+UInt8", {"Content-Type": ctype}, body)
    assert info.value.code == 48


def test_native_block_compression_is_flagged_and_decompress_refused():
    assert parse_request("compress=1", {}, b"SELECT 1").native_compress
    with pytest.raises(ClickHouseError) as info:
        parse_request("decompress=1", {}, b"SELECT 1")
    assert info.value.code == 48


def test_errors_read_like_clickhouse_and_map_to_its_http_statuses():
    e = ClickHouseError(164, "READONLY", "touchpulse: Cannot execute query in readonly mode")
    assert e.text("26.9.2.1") == ("Code: 164. DB::Exception: touchpulse: Cannot execute query in readonly mode. "
                                  "(READONLY) (version 26.9.2.1)\n")
    assert [http_status(c) for c in (516, 194, 497, 62, 60, 115, 48, 159, 164, 202)] == \
        [403, 401, 403, 400, 404, 404, 501, 408, 500, 500]


@pytest.mark.parametrize("encoding", ["lz4", "zstd", "gzip", "deflate"])
def test_compressed_bodies_are_what_clickhouse_connect_decodes(encoding):
    from clickhouse_connect.driver.compression import _lz4_decompressor
    from clickhouse_connect.driver._backend.httpcommon import decompress_response
    data = b"\x01\x02native block" * 1000
    if encoding == "lz4":  # as its streaming reader does (its one-shot helper caps lz4 output at the input size)
        assert _lz4_decompressor().decompress(compress(data, encoding)) == data
    else:
        assert decompress_response(compress(data, encoding), encoding) == data
    assert decompress(compress(data, encoding), encoding) == data


def test_encoding_choice_prefers_the_cheapest_offered():
    assert choose_encoding("gzip, deflate, br") == "gzip"
    assert choose_encoding("lz4,zstd,gzip,deflate") == "lz4"
    assert choose_encoding("identity") is None and choose_encoding("") is None
    with pytest.raises(ClickHouseError) as info:
        decompress(b"x", "snappy")
    assert info.value.code == 89
    with pytest.raises(ClickHouseError) as info:
        decompress(b"not gzip", "gzip")
    assert info.value.code == 271


def test_content_types_follow_the_format():
    assert content_type("Native") == "application/octet-stream"
    assert content_type("JSON").startswith("application/json")
    assert content_type("TabSeparated").startswith("text/tab-separated-values")
    assert content_type("JSONEachRow").startswith("application/x-ndjson")
    assert content_type("Pretty").startswith("text/plain")
