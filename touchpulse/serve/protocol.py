"""ClickHouse's HTTP interface, the parts that need no engine: what a request asks for, who sends
it, how errors and compressed bodies look. Pure functions, tested without a server.

What clients send (read from clickhouse-connect 1.12 and clickhouse-go 2, which the Grafana plugin
uses in HTTP mode): the SQL in the body and/or the `query` URL parameter; `database`,
`default_format`, `query_id`, `session_id`, `client_protocol_version`, `param_<name>` query
parameters and any other URL parameter as a setting; credentials as HTTP basic auth, as
X-ClickHouse-User/X-ClickHouse-Key headers or as `user`/`password` parameters; Accept-Encoding
(with `enable_http_compression=1`) for a compressed answer; sometimes a multipart form body.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import zlib
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl

# URL parameters that are not settings (ClickHouse's HTTP handler treats these itself).
TRANSPORT_PARAMS = frozenset({
    "query", "database", "default_format", "user", "password", "quota_key", "query_id", "session_id",
    "session_timeout", "session_check", "compress", "decompress", "buffer_size", "wait_end_of_query",
    "client_protocol_version", "role", "stacktrace", "close_session",
})
MAX_BODY = 16 * 2**20  # a query, not data: INSERTs are refused anyway


class ClickHouseError(Exception):
    """An error answered the way ClickHouse answers it: code, symbolic name, message."""

    def __init__(self, code: int, name: str, message: str):
        super().__init__(message)
        self.code = code
        self.name = name
        self.message = message

    def text(self, version: str) -> str:
        return f"Code: {self.code}. DB::Exception: {self.message}. ({self.name}) (version {version})\n"


# ClickHouse error codes used here (checked with the engine's errorCodeToName).
BAD_ARGUMENTS = 36
NOT_IMPLEMENTED = 48
SYNTAX_ERROR = 62
UNKNOWN_FORMAT = 73
UNKNOWN_COMPRESSION_METHOD = 89
UNKNOWN_SETTING = 115
TIMEOUT_EXCEEDED = 159
READONLY = 164
TOO_MANY_SIMULTANEOUS_QUERIES = 202
QUERY_IS_TOO_LARGE = 229
CANNOT_DECOMPRESS = 271
INTO_OUTFILE_NOT_ALLOWED = 358
HTTP_LENGTH_REQUIRED = 381
SETTING_CONSTRAINT_VIOLATION = 452
ACCESS_DENIED = 497
AUTHENTICATION_FAILED = 516

# HTTP status per error code, as ClickHouse's server maps them (anything else: 500).
_STATUS = {194: 401}
_STATUS.update(dict.fromkeys((192, 193, 497, 512, 516), 403))
_STATUS.update(dict.fromkeys((6, 8, 15, 25, 26, 27, 36, 37, 38, 41, 44, 53, 62, 72, 117, 123, 167, 168, 223,
                              321, 376, 427, 441), 400))
_STATUS.update(dict.fromkeys((46, 47, 50, 56, 60, 63, 73, 78, 81, 115, 152, 336, 511), 404))
_STATUS.update({229: 413, 48: 501, 76: 503, 209: 503, 439: 503, 381: 411, 159: 408, 779: 415})


def http_status(code: int) -> int:
    return _STATUS.get(code, 500)


@dataclass
class QueryRequest:
    """One request to the query endpoint, decoded."""
    sql: str
    database: str | None = None
    default_format: str | None = None
    query_id: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    protocol_version: int = 0
    user: str = "default"
    password: str = ""
    accept_encoding: str = ""
    native_compress: bool = False  # compress=1: ClickHouse's own block compression (not supported)


def credentials(headers, params: dict[str, str]) -> tuple[str, str]:
    """User and password the way ClickHouse reads them: X-ClickHouse-User/Key, basic auth, or
    user/password parameters (no credentials at all: the `default` user, no password)."""
    user = headers.get("X-ClickHouse-User")
    key = headers.get("X-ClickHouse-Key")
    auth = headers.get("Authorization") or ""
    if user is not None or key is not None:
        return user or "default", key or ""
    if auth[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ClickHouseError(AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED",
                                  "Authentication failed: the basic authorization header is not valid") from None
        name, _, secret = decoded.partition(":")
        return name or "default", secret
    if auth:
        raise ClickHouseError(AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED",
                              "Authentication failed: only basic authorization is supported")
    return params.get("user") or "default", params.get("password", "")


def parse_request(query_string: str, headers, body: bytes) -> QueryRequest:
    """The request as ClickHouse reads it (the body already decoded from its Content-Encoding)."""
    params: dict[str, str] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        params[key] = value
    sql = params.get("query", "")
    content_type = (headers.get("Content-Type") or "").lower()
    if content_type.startswith("multipart/form-data"):
        fields = multipart_fields(headers.get("Content-Type") or "", body)
        for name, value in fields.items():
            if name == "query":
                sql = (sql + "\n" + value) if sql else value
            elif name.startswith("param_"):
                params[name] = value
            else:
                raise ClickHouseError(NOT_IMPLEMENTED, "NOT_IMPLEMENTED",
                                      "External tables are not supported by touchpulse's read endpoint")
    elif body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ClickHouseError(SYNTAX_ERROR, "SYNTAX_ERROR", "The query is not valid UTF-8") from None
        sql = (sql + "\n" + text) if sql else text
    user, password = credentials(headers, params)
    settings, qparams = {}, {}
    for key, value in params.items():
        if key.startswith("param_"):
            qparams[key[len("param_"):]] = value
        elif key not in TRANSPORT_PARAMS:
            settings[key] = value
    try:
        protocol = int(params.get("client_protocol_version") or 0)
    except ValueError:
        raise ClickHouseError(BAD_ARGUMENTS, "BAD_ARGUMENTS", "client_protocol_version is not a number") from None
    if params.get("decompress") in ("1", "true"):
        raise ClickHouseError(NOT_IMPLEMENTED, "NOT_IMPLEMENTED",
                              "decompress=1 (ClickHouse's block compression) is not supported: use Content-Encoding")
    return QueryRequest(sql=sql, database=params.get("database") or None,
                        default_format=params.get("default_format") or None,
                        query_id=params.get("query_id") or None, settings=settings, params=qparams,
                        protocol_version=protocol, user=user, password=password,
                        accept_encoding=headers.get("Accept-Encoding") or "",
                        native_compress=params.get("compress") in ("1", "true"))


def multipart_fields(raw_type: str, body: bytes) -> dict[str, str]:
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + raw_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise ClickHouseError(BAD_ARGUMENTS, "BAD_ARGUMENTS", "The multipart form could not be read")
    out = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None:
            continue
        if part.get_filename() is not None:
            raise ClickHouseError(NOT_IMPLEMENTED, "NOT_IMPLEMENTED",
                                  "External tables are not supported by touchpulse's read endpoint")
        payload = part.get_payload(decode=True) or b""
        out[str(name)] = payload.decode("utf-8", errors="strict")
    return out


# Response compression (HTTP Content-Encoding), cheapest first: the endpoint usually answers on
# the same machine, where lz4 costs the least CPU.
ENCODINGS = ("lz4", "zstd", "gzip", "deflate", "br")


def choose_encoding(accept: str) -> str | None:
    offered = {part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()}
    for name in ENCODINGS:
        if name in offered and _codec_available(name):
            return name
    return None


def _codec_available(name: str) -> bool:
    if name in ("gzip", "deflate"):
        return True
    try:
        if name == "lz4":
            import lz4.frame  # noqa: F401
        else:
            import cramjam  # noqa: F401
            getattr(cramjam, "zstd" if name == "zstd" else "brotli")
    except (ImportError, AttributeError):
        return False
    return True


def compress(data: bytes, encoding: str, level: int = 3) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=max(1, min(level, 9)), mtime=0)
    if encoding == "deflate":
        return zlib.compress(data, max(1, min(level, 9)))
    if encoding == "lz4":
        import lz4.frame
        return lz4.frame.compress(data)
    import cramjam
    if encoding == "zstd":
        return bytes(cramjam.zstd.compress(data))
    if encoding == "br":
        return bytes(cramjam.brotli.compress(data))
    raise ValueError(encoding)


def decompress(data: bytes, encoding: str) -> bytes:
    """A request body sent with Content-Encoding."""
    encoding = encoding.strip().lower()
    try:
        if encoding in ("", "identity"):
            return data
        if encoding == "gzip":
            return gzip.decompress(data)
        if encoding == "deflate":
            return zlib.decompress(data)
        if encoding == "lz4":
            import lz4.frame
            return lz4.frame.decompress(data)
        if encoding in ("zstd", "br"):
            import cramjam
            return bytes((cramjam.zstd if encoding == "zstd" else cramjam.brotli).decompress(data))
    except Exception:
        raise ClickHouseError(CANNOT_DECOMPRESS, "CANNOT_DECOMPRESS",
                              f"Cannot decompress the request body ({encoding})") from None
    raise ClickHouseError(UNKNOWN_COMPRESSION_METHOD, "UNKNOWN_COMPRESSION_METHOD",
                          f"Unknown HTTP compression method: {encoding}")


_CONTENT_TYPES = {
    "json": "application/json; charset=UTF-8", "jsoncompact": "application/json; charset=UTF-8",
    "jsonstrings": "application/json; charset=UTF-8", "jsoncompactstrings": "application/json; charset=UTF-8",
    "jsoneachrow": "application/x-ndjson; charset=UTF-8", "jsonlines": "application/x-ndjson; charset=UTF-8",
    "ndjson": "application/x-ndjson; charset=UTF-8",
    "tabseparated": "text/tab-separated-values; charset=UTF-8", "tsv": "text/tab-separated-values; charset=UTF-8",
    "tabseparatedwithnames": "text/tab-separated-values; charset=UTF-8",
    "tabseparatedwithnamesandtypes": "text/tab-separated-values; charset=UTF-8",
    "tsvwithnames": "text/tab-separated-values; charset=UTF-8", "tabseparatedraw": "text/tab-separated-values; charset=UTF-8",
    "csv": "text/csv; charset=UTF-8; header=absent", "csvwithnames": "text/csv; charset=UTF-8; header=present",
    "xml": "application/xml; charset=UTF-8",
}


def content_type(fmt: str) -> str:
    key = fmt.lower()
    if key in _CONTENT_TYPES:
        return _CONTENT_TYPES[key]
    if key.startswith(("native", "rowbinary", "arrow", "parquet", "orc", "avro", "protobuf", "capnproto",
                       "msgpack", "bson", "npy")):
        return "application/octet-stream"
    return "text/plain; charset=UTF-8"
