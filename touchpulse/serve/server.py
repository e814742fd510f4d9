"""The worker's read endpoint: ClickHouse's HTTP interface on threads of its own.

A ThreadingHTTPServer accepts on one thread and handles each connection on another (keep-alive
connections from clickhouse-connect's and Grafana's pools). At most `readers` queries run at once
(TOUCHPULSE_SERVE_READERS); a query waits up to 10 s for its turn, then fails the way a busy
ClickHouse does (TOO_MANY_SIMULTANEOUS_QUERIES). Nothing here touches the Faust event loop or the
ClickHouse writer's thread: the engine runs reads on connections of their own (engine.py).
"""

from __future__ import annotations

import errno
import hmac
import json
import logging
import os
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from touchpulse.serve import discovery
from touchpulse.serve.engine import Engine
from touchpulse.serve.protocol import (AUTHENTICATION_FAILED, HTTP_LENGTH_REQUIRED, NOT_IMPLEMENTED,
                                       QUERY_IS_TOO_LARGE, TOO_MANY_SIMULTANEOUS_QUERIES, ClickHouseError, MAX_BODY,
                                       choose_encoding, compress, content_type, decompress, http_status,
                                       parse_request)

log = logging.getLogger("touchpulse.serve")

MAX_CONNECTIONS = 64
QUEUE_WAIT = 10.0  # seconds a query waits for a free reader
IDLE_TIMEOUT = 60.0  # seconds a keep-alive connection may stay silent
LOOPBACK = ("127.", "::1", "localhost")


class ReadServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], engine: Engine, user: str, password: str, readers: int,
                 display_name: str = "touchpulse"):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.engine = engine
        self.user = user
        self.password = password
        self.readers = readers
        self.display_name = display_name
        self.gate = threading.BoundedSemaphore(readers)
        self.connections = 0
        self._sockets: set = set()
        self._refused, self._refused_logged = 0, -60.0
        self._count = threading.Lock()
        self.pid = os.getpid()
        self.thread: threading.Thread | None = None
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def host(self) -> str:
        return self.server_address[0]

    def process_request(self, request, client_address):
        with self._count:
            if self.connections >= MAX_CONNECTIONS or self.engine.closing:
                self.shutdown_request(request)
                return
            self.connections += 1
            self._sockets.add(request)
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._count:
                self.connections -= 1
                self._sockets.discard(request)

    def refused_login(self, source: str, user: str) -> None:
        """Logged, at most once a minute (a Grafana with an old password retries every refresh)."""
        now = time.monotonic()
        with self._count:
            self._refused += 1
            if now - self._refused_logged < 60:
                return
            count, self._refused, self._refused_logged = self._refused, 0, now
        log.warning("read endpoint: refused %d quer%s with a wrong user or password (last from %s as %r)",
                    count, "y" if count == 1 else "ies", source, user[:64])

    def authenticated(self, user: str, password: str) -> bool:
        ok_user = hmac.compare_digest(user.encode(), self.user.encode())
        ok_password = hmac.compare_digest(password.encode(), self.password.encode())
        return ok_user and ok_password

    def start(self) -> None:
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.5},
                                       name="serve-reads", daemon=True)
        self.thread.start()

    def stop(self, wait: float = 5.0) -> None:
        """No new queries; idle keep-alive connections closed; queries in flight finish within `wait`
        seconds or are cancelled (the engine must not be running one when the process exits)."""
        self.engine.closing = True
        self.shutdown()
        self.server_close()
        with self._count:
            for sock in list(self._sockets):
                try:
                    sock.shutdown(socket.SHUT_RD)  # an idle handler wakes up and ends; a busy one still answers
                except OSError:
                    pass
        if not self._drained(wait):
            log.info("read endpoint: cancelling %d read(s) still running", self.engine.running)
            self.engine.cancel()
            if not self._drained(30.0):
                log.warning("read endpoint: %d read(s) still running at shutdown", self.engine.running)

    def _drained(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self.engine.running and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.engine.running


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "touchpulse"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    disable_nagle_algorithm = True  # else headers and body in two writes wait ~40 ms for a delayed ACK
    server: ReadServer

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query_id = None
        try:
            body = self._body()
            if url.path in ("/ping", "/replicas_status"):
                return self._send(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
            if url.path not in ("", "/"):
                return self._send(404, f"There is no handle {url.path}\n\nUse / or /ping for health checks.\n"
                                  .encode(), {"Content-Type": "text/plain; charset=UTF-8"})
            if not url.query and not body and self.command == "GET":
                return self._send(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
            request = parse_request(url.query, self.headers, body)
            query_id = request.query_id or str(uuid.uuid4())
            if not self.server.authenticated(request.user, request.password):
                self.server.refused_login(self.address_string(), request.user)
                raise ClickHouseError(AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED",
                                      f"{request.user}: Authentication failed: password is incorrect, or there is "
                                      "no user with such name")
            if request.native_compress:
                raise ClickHouseError(NOT_IMPLEMENTED, "NOT_IMPLEMENTED",
                                      "compress=1 (ClickHouse's block compression) is not supported by touchpulse's "
                                      "read endpoint: use HTTP compression (Accept-Encoding with "
                                      "enable_http_compression=1)")
            answer = self._run(request)
        except ClickHouseError as exc:
            return self._error(exc, query_id)
        except (ConnectionError, socket.timeout):
            self.close_connection = True
            return
        except Exception as exc:  # a bug here must not kill the worker: answer it as ClickHouse would
            log.exception("read endpoint: unexpected error")
            return self._error(ClickHouseError(1001, "STD_EXCEPTION", str(exc) or type(exc).__name__), query_id)
        headers = {"Content-Type": content_type(answer.format), "X-ClickHouse-Format": answer.format,
                   "X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Timezone": self.server.engine.timezone,
                   "X-ClickHouse-Summary": json.dumps(answer.summary, separators=(",", ":"))}
        payload = answer.body
        if request.settings.get("enable_http_compression", "0").lower() in ("1", "true"):
            encoding = choose_encoding(request.accept_encoding)
            if encoding and payload:
                level = int(request.settings.get("http_zlib_compression_level", "3") or 3)
                payload = compress(payload, encoding, level)
                headers["Content-Encoding"] = encoding
        self._send(200, payload, headers)

    def _run(self, request):
        server = self.server
        if not server.gate.acquire(timeout=QUEUE_WAIT):
            raise ClickHouseError(TOO_MANY_SIMULTANEOUS_QUERIES, "TOO_MANY_SIMULTANEOUS_QUERIES",
                                  f"Too many simultaneous queries. Maximum: {server.readers}")
        started = time.perf_counter()
        try:
            answer = server.engine.run(request)
            log.debug("read endpoint: %d bytes of %s in %.1f ms", len(answer.body), answer.format,
                      1000 * (time.perf_counter() - started))
            return answer
        except ClickHouseError as exc:
            log.info("read endpoint: query refused or failed: %s (%s)", exc.name, exc.message[:200])
            raise
        finally:
            server.gate.release()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = self._chunked()
        else:
            length = self.headers.get("Content-Length")
            if length is None:
                if self.command == "POST":
                    self.close_connection = True  # nothing tells where the body ends
                data = b""
            else:
                try:
                    size = int(length)
                except ValueError:
                    raise ClickHouseError(HTTP_LENGTH_REQUIRED, "HTTP_LENGTH_REQUIRED", "Bad Content-Length") from None
                if size > MAX_BODY:
                    self.close_connection = True
                    raise ClickHouseError(QUERY_IS_TOO_LARGE, "QUERY_IS_TOO_LARGE",
                                          f"The request body is larger than {MAX_BODY} bytes")
                data = self.rfile.read(size) if size else b""
        return decompress(data, self.headers.get("Content-Encoding", ""))

    def _chunked(self) -> bytes:
        parts, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                self.close_connection = True
                raise ClickHouseError(QUERY_IS_TOO_LARGE, "QUERY_IS_TOO_LARGE",
                                      f"The request body is larger than {MAX_BODY} bytes")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _error(self, exc: ClickHouseError, query_id: str | None) -> None:
        headers = {"Content-Type": "text/plain; charset=UTF-8", "X-ClickHouse-Exception-Code": str(exc.code)}
        if query_id:
            headers["X-ClickHouse-Query-Id"] = query_id
        self._send(http_status(exc.code), exc.text(self.server.engine.version).encode(), headers)

    def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("X-ClickHouse-Server-Display-Name", self.server.display_name)
        self.send_header(discovery.WORKER_HEADER, str(self.server.pid))
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Keep-Alive", f"timeout={int(IDLE_TIMEOUT)}")
        self._headers_buffer.append(b"\r\n")  # end_headers(), with the body in the same write
        if self.command != "HEAD":
            self._headers_buffer.append(payload)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []


def chdb_path(dsn: str) -> str:
    return dsn[len("chdb://"):].split("?", 1)[0]


def start(settings, busy=None) -> ReadServer | None:
    """Serve reads of this worker's chDB, if the settings ask for it; None when they do not or
    when it cannot be done (then the worker runs on, and the log says why). `busy()` says whether
    the worker is ingesting right now (reads are paced meanwhile)."""
    address = settings.serve_address
    if address is None:
        return None
    host, port = address
    try:
        engine = Engine(chdb_path(settings.clickhouse), busy=busy)
    except Exception as exc:
        log.warning("not serving reads: cannot open chDB for them (%s)", str(exc).splitlines()[0][:200])
        return None
    password = discovery.password(settings, create=True)
    server = None
    for attempt_port in (port, 0) if port else (0,):
        try:
            server = ReadServer((host, attempt_port), engine, settings.serve_user, password, settings.serve_readers)
            break
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE and attempt_port:
                log.warning("port %d is in use on %s: serving reads on a free port instead (local commands "
                            "find it; a Grafana configured for port %d will not)", attempt_port, host, attempt_port)
                continue
            log.warning("not serving reads: cannot listen on %s:%d (%s)", host, attempt_port, exc.strerror or exc)
            engine.close()
            return None
    server.start()
    try:
        discovery.publish(settings, discovery.Endpoint(server.pid, server.host, server.port, settings.serve_user,
                                                       settings.database))
    except OSError as exc:
        log.warning("serving reads, but local commands will not find the endpoint: cannot write %s (%s)",
                    settings.home / discovery.ADDRESS_FILE, exc.strerror or exc)
    where = "TOUCHPULSE_SERVE_PASSWORD" if settings.serve_password else str(settings.home / discovery.PASSWORD_FILE)
    shown = f"[{server.host}]" if ":" in server.host else server.host
    log.info("serving read-only SQL on http://%s:%d (ClickHouse's HTTP interface; user %s, password in %s); "
             "`touchpulse query` and the flows read through it", shown, server.port, settings.serve_user, where)
    if not server.host.startswith(LOOPBACK):
        log.warning("the read endpoint listens on %s, beyond this machine, without TLS: anyone who can reach it and "
                    "knows the password reads your data", server.host)
    return server


def stop(settings, server: ReadServer | None) -> None:
    if server is None:
        return
    discovery.withdraw(settings, server.pid)
    server.stop()
    server.engine.close()
