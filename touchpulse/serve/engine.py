"""Reads on the worker's own chDB: one fresh engine session per query, read-only and limited.

chDB allows one process per data directory, but inside that process several connections to the
directory may exist, each a session of its own (its own settings, current database), and their
queries run in parallel: the worker's writes never wait for a read. So each query here opens a
connection, makes it read-only with the endpoint's limits, runs the client's SQL as sent, and
closes it; nothing a query sets outlives it. One more connection stays open for the server's
lifetime, so the engine never starts or stops between queries.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

from touchpulse.clickhouse.quoting import literal, q
from touchpulse.serve import guard, native
from touchpulse.serve.protocol import (BAD_ARGUMENTS, READONLY, SYNTAX_ERROR, ClickHouseError, QueryRequest)

_CONNECT = threading.Lock()  # chDB's own wrappers serialise connect/close the same way
MARK = "touchpulse-read"  # every read's log_comment: how a stopping worker finds (and cancels) them
ABORTED = 236
_CODE = re.compile(r"Code: (\d+)\. DB::Exception: ")
_NAME_AT_END = re.compile(r"\. \(([A-Z][A-Z0-9_]*)\)(?: \(version [^)]*\))?\.?\s*$")
_WRAPPER_SCOPE = re.compile(r"[.:]?\s*:?\s*In scope SELECT formatQuerySingleLine\(.*$", re.S)


@dataclass
class Answer:
    body: bytes
    format: str
    summary: dict = field(default_factory=dict)


class Engine:
    """The worker's chDB directory, for reads."""

    def __init__(self, path: str, limits: guard.Limits | None = None, busy=None):
        import chdb  # noqa: F401  (loads the engine the way clickhouse-connect's chdb backend does)
        from chdb import _chdb

        self._chdb = _chdb
        self.path = path
        self.limits = limits or guard.Limits()
        with _CONNECT:
            self._anchor = _chdb.connect(path)
        rows = self._rows(self._anchor, "SELECT version(), timezone()")
        self.version, self.timezone = rows[0][0], rows[0][1]
        self.known_settings = frozenset(r[0] for r in self._rows(self._anchor, "SELECT name FROM system.settings"))
        self.denied = guard.denied_table_functions(
            r[0] for r in self._rows(self._anchor, "SELECT name FROM system.table_functions"))
        self._classify = getattr(self._anchor, "classify_query", None)
        self.closing = False
        self.running = 0
        self._running = threading.Lock()
        self.busy = busy or (lambda: False)  # is the worker ingesting now?
        self.paced_seconds = 0.0
        self._budget = self.limits.burst_seconds  # seconds of reading that may start now
        self._budget_at = time.monotonic()
        self._budget_lock = threading.Lock()

    def _pace(self) -> None:
        """While the worker ingests, wait until the reads' share of the time allows another query."""
        share = self.limits.share_while_ingesting
        waited = 0.0
        while share < 1.0 and self.busy():
            with self._budget_lock:
                now = time.monotonic()
                self._budget = min(self.limits.burst_seconds, self._budget + (now - self._budget_at) * share)
                self._budget_at = now
                if self._budget > 0:
                    break
                wait = min(-self._budget / share, 0.5)
            time.sleep(wait)
            waited += wait
        if waited:
            with self._budget_lock:
                self.paced_seconds += waited

    def _spent(self, seconds: float) -> None:
        with self._budget_lock:
            self._budget -= seconds * (self.limits.share_while_ingesting < 1.0)

    def cancel(self) -> None:
        """Cancel the reads still running (the worker is stopping): a query left running in the engine while
        the process exits can crash it."""
        self._anchor.query(f"KILL QUERY WHERE Settings['log_comment'] = {literal(MARK)} ASYNC", "TabSeparated")

    def close(self) -> None:
        with _CONNECT:
            self._anchor.close()

    @staticmethod
    def _rows(conn, sql: str, params: dict | None = None) -> list[list[str]]:
        text = conn.query(sql, "TabSeparatedRaw", params=params or {}).bytes().decode()
        return [line.split("\t") for line in text.splitlines()]

    def run(self, request: QueryRequest) -> Answer:
        """The query of `request`, or a ClickHouseError saying why not, as the engine would."""
        if not request.sql.strip():
            raise ClickHouseError(SYNTAX_ERROR, "SYNTAX_ERROR", "Empty query")
        client_settings = guard.check_url_settings(request.settings, self.known_settings, self.limits)
        started = time.perf_counter()
        with self._running:
            if self.closing:
                raise ClickHouseError(ABORTED, "ABORTED", "The worker is stopping: no new queries")
            self.running += 1
        try:
            self._pace()
            t0 = time.perf_counter()
            try:
                return self._run(request, client_settings, started)
            finally:
                self._spent(time.perf_counter() - t0)
        finally:
            with self._running:
                self.running -= 1

    def _run(self, request: QueryRequest, client_settings: dict[str, str], started: float) -> Answer:
        with _CONNECT:
            conn = self._chdb.connect(self.path)
        try:
            self._open_session(conn, request, client_settings)
            verdict = self._check(conn, request)
            fmt = verdict.output_format or request.default_format or "TabSeparated"
            try:
                result = conn.query(request.sql, fmt, params=dict(request.params))
            except Exception as exc:  # chDB raises RuntimeError with ClickHouse's message
                raise engine_error(exc, self.version) from None
            body = result.bytes() if hasattr(result, "bytes") else bytes(result)
            summary = {"read_rows": str(result.rows_read()), "read_bytes": str(result.bytes_read()),
                       "written_rows": "0", "written_bytes": "0", "total_rows_to_read": str(result.rows_read()),
                       "result_bytes": str(len(body)),
                       "elapsed_ns": str(int(1e9 * (time.perf_counter() - started)))}
        finally:
            with _CONNECT:
                conn.close()
        if fmt.lower() == "native" and request.protocol_version > 0:
            body = native.reframe(body, request.protocol_version)
        return Answer(body, fmt, summary)

    def _open_session(self, conn, request: QueryRequest, client_settings: dict[str, str]) -> None:
        """The endpoint's limits, then what the client asked for (already checked against them),
        then readonly: after it, nothing in this session can write or lift a limit."""
        values = {name: str(v) for name, v in self.limits.settings().items()}
        values.update(client_settings)
        level = "1" if str(client_settings.get("readonly", "")).strip() == "1" else "2"
        values.pop("readonly", None)
        values["log_comment"] = MARK
        assignments = ", ".join(f"{q(name)} = {literal(value)}" for name, value in values.items())
        try:
            conn.query(f"SET {assignments}, readonly = {level}", "TabSeparated")
            if request.database:
                conn.query(f"USE {q(request.database)}", "TabSeparated")
        except Exception as exc:
            raise engine_error(exc, self.version) from None

    def _check(self, conn, request: QueryRequest) -> guard.Verdict:
        """The guard's verdict on the query as the engine's parser renders it."""
        try:
            rendered = conn.query("SELECT formatQuerySingleLine({sql:String})", "TabSeparatedRaw",
                                  params={"sql": escape_parameter(request.sql)}).bytes().decode().strip()
        except Exception as exc:
            raise engine_error(exc, self.version, strip_wrapper=True) from None
        verdict = guard.check(rendered, self.denied, self.limits, request.user)
        if self._classify is not None:  # a second opinion, from the engine's own classifier
            kind = self._classify(request.sql)
            if int(kind["statement_count"]) > 1:
                raise ClickHouseError(SYNTAX_ERROR, "SYNTAX_ERROR", "Multi-statements are not allowed")
            if int(kind["query_class"]) != 0:  # READ_ONLY
                raise ClickHouseError(READONLY, "READONLY", f"{request.user}: Cannot execute query in readonly mode")
        return verdict


def escape_parameter(text: str) -> str:
    """A query parameter's value in ClickHouse's escaped form (how it reads `param_x` values)."""
    return (text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
            .replace("\0", "\\0"))


def engine_error(exc: BaseException, version: str, strip_wrapper: bool = False) -> ClickHouseError:
    """ClickHouse's message in a chDB exception, as code, name and text."""
    text = str(exc).strip()
    m = _CODE.search(text)
    if not m:
        return ClickHouseError(1001, "STD_EXCEPTION", text.splitlines()[0] if text else type(exc).__name__)
    code = int(m.group(1))
    body = text[m.end():]
    inner = _CODE.match(body)  # "Code: 164. DB::Exception: Code: 164. DB::Exception: ..."
    if inner:
        body = body[inner.end():]
    name_match = _NAME_AT_END.search(body)
    name = name_match.group(1) if name_match else "UNKNOWN_EXCEPTION"
    message = body[:name_match.start()] if name_match else body
    message = re.sub(r"\. \([A-Z][A-Z0-9_]*\) \(version [^)]*\)$", "", message)
    if strip_wrapper:
        message = _WRAPPER_SCOPE.sub("", message)
    if code == BAD_ARGUMENTS and "formatQuerySingleLine" in message:
        message = "The query could not be read"
    return ClickHouseError(code, name, message.rstrip(". ") or name)
