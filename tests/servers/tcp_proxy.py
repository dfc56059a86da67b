"""A TCP proxy on 127.0.0.1 that can be slow, hold connections, cut them or refuse them.

A real slow or broken peer for reliability tests, without mocks: put it in front
of SeaweedFS, the git HTTP server or sshd, point the daemon at it and change its
behaviour while the daemon runs. Every connection is counted and the first line
the client sent is kept (for HTTP: the request line), so a test can tell pushes
from fetches and S3 GETs from PUTs.

Plain code, no pytest. Everything is bounded: sockets time out, threads are
daemon threads, and ``stop()`` closes every open connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: Decides from a connection's first client bytes whether a rule applies to it.
Match = Callable[[bytes], bool]


def any_connection(_first: bytes) -> bool:
    return True


@dataclass
class Rules:
    """What the proxy does now; change the fields while it runs."""

    #: Accept, then close at once (a server that is down but whose port answers).
    refuse: bool = False
    #: Seconds to hold each matching HTTP request before it is forwarded (for other
    #: protocols: before connecting upstream).
    delay_seconds: float = 0.0
    delay_match: Match = any_connection
    #: After holding a request, close the connection instead of forwarding it.
    drop_held: bool = False
    #: Bytes per second, client to server and server to client (0: no limit).
    rate_up: float = 0.0
    rate_down: float = 0.0
    throttle_match: Match = any_connection
    #: Close the connection after this many bytes of the answer to a matching HTTP
    #: request (each request on a keep-alive connection is matched on its own; 0: never).
    cut_down_after: int = 0
    cut_match: Match = any_connection
    #: Cut at most this many connections (then behave normally again).
    cut_limit: int = 1


@dataclass
class ConnectionRecord:
    first: bytes = b""
    up: int = 0
    down: int = 0
    cut: bool = False
    closed: bool = False
    #: Every HTTP request line the client sent on this connection (keep-alive reuses them).
    requests: list[bytes] = field(default_factory=list)
    armed: bool = False
    down_mark: int = 0


@dataclass
class TcpProxy:
    upstream: tuple[str, int]
    rules: Rules = field(default_factory=Rules)
    port: int = 0
    connections: list[ConnectionRecord] = field(default_factory=list)
    cuts: int = 0
    _listener: socket.socket | None = None
    _thread: threading.Thread | None = None
    _open: set[socket.socket] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: bool = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def first_lines(self) -> list[str]:
        with self._lock:
            return [c.first.split(b"\r\n", 1)[0].decode("latin-1") for c in self.connections]

    def request_lines(self) -> list[str]:
        """Every HTTP request line seen, over all connections, in arrival order per connection."""
        with self._lock:
            return [r.decode("latin-1") for c in self.connections for r in c.requests]

    def requests_matching(self, match: Match) -> int:
        """How many HTTP requests so far match (on any connection)."""
        with self._lock:
            return sum(1 for c in self.connections for r in c.requests if match(r))

    def matching(self, match: Match) -> list[ConnectionRecord]:
        with self._lock:
            return [c for c in self.connections if match(c.first)]

    def start(self) -> TcpProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.2)
        self.port = int(listener.getsockname()[1])
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self._thread.start()
        return self

    def close_open(self) -> int:
        """Close every connection open now (a server that went away); how many were open.

        Clients with kept-alive connections notice at their next request; new
        connections follow ``rules`` (set ``refuse`` first for an outage).
        """
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        return len(sockets)

    def stop(self) -> None:
        self._stopping = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()

    # -- internals -----------------------------------------------------------------

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.rules.refuse:
                client.close()
                with self._lock:
                    self.connections.append(ConnectionRecord(closed=True))
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        record = ConnectionRecord()
        with self._lock:
            self.connections.append(record)
            self._open.add(client)
        client.settimeout(120)
        upstream: socket.socket | None = None
        try:
            # The first bytes decide which rules apply (a TLS-less protocol speaks first
            # from the client for HTTP; ssh's server speaks first, so wait only briefly).
            client.settimeout(0.5)
            with contextlib.suppress(TimeoutError):
                record.first = client.recv(65536)
            client.settimeout(120)
            rules = self.rules
            is_http = record.first.startswith(self._METHODS)
            if not is_http and rules.delay_seconds and rules.delay_match(record.first):
                time.sleep(rules.delay_seconds)  # HTTP requests are held one by one in _saw
            upstream = socket.create_connection(self.upstream, timeout=120)
            with self._lock:
                self._open.add(upstream)
            if record.first:
                self._saw(record, record.first)
                upstream.sendall(record.first)
                record.up += len(record.first)
            throttled = rules.throttle_match(record.first)
            up = threading.Thread(
                target=self._pipe,
                args=(client, upstream, record, "up", rules.rate_up if throttled else 0),
                daemon=True,
            )
            up.start()
            self._pipe(upstream, client, record, "down", rules.rate_down if throttled else 0)
            up.join(timeout=5)
        except OSError:
            pass
        finally:
            record.closed = True
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()
                    with self._lock:
                        self._open.discard(sock)

    _METHODS = (b"GET ", b"PUT ", b"POST ", b"HEAD ", b"DELETE ", b"PATCH ", b"OPTIONS ")

    def _saw(self, record: ConnectionRecord, data: bytes) -> None:
        """A new HTTP request on the connection: arm the cut, or hold it, when it matches."""
        if not data.startswith(self._METHODS):
            return
        line = data.split(b"\r\n", 1)[0]
        rules = self.rules
        with self._lock:
            record.requests.append(line)
            record.armed = (
                bool(rules.cut_down_after) and rules.cut_match(data) and self.cuts < rules.cut_limit
            )
            record.down_mark = record.down
        if rules.delay_seconds and rules.delay_match(data):
            time.sleep(rules.delay_seconds)
            if rules.drop_held:
                raise OSError("held request dropped")

    def _pipe(
        self,
        source: socket.socket,
        target: socket.socket,
        record: ConnectionRecord,
        direction: str,
        rate: float,
    ) -> None:
        started = time.monotonic()
        sent = 0
        chunk = 16384 if not rate else max(1, min(16384, int(rate / 20)))
        try:
            while not self._stopping:
                data = source.recv(chunk)
                if not data:
                    with contextlib.suppress(OSError):
                        target.shutdown(socket.SHUT_WR)
                    return
                if direction == "up":
                    self._saw(record, data)
                cut_after = self.rules.cut_down_after
                into = record.down - record.down_mark
                if direction == "down" and record.armed and into + len(data) >= cut_after:
                    data = data[: max(0, cut_after - into)]
                    if data:
                        target.sendall(data)
                    record.cut = True
                    with self._lock:
                        self.cuts += 1
                    # An abrupt close (RST) mid-body, as a dropped connection looks.
                    with contextlib.suppress(OSError):
                        target.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                        )
                    # The other pipe thread is blocked reading this socket, which keeps it
                    # open (no RST, the client only sees a stall) until that read returns:
                    # wake it first, so the close resets the connection now.
                    with contextlib.suppress(OSError):
                        target.shutdown(socket.SHUT_RD)
                    target.close()
                    source.close()
                    return
                target.sendall(data)
                sent += len(data)
                if direction == "up":
                    record.up += len(data)
                else:
                    record.down += len(data)
                if rate:
                    ahead = sent / rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(min(ahead, 5.0))
        except OSError:
            for sock in (source, target):  # one side broke (or a held request was dropped)
                with contextlib.suppress(OSError):
                    sock.close()
            return


def start_proxy(upstream: tuple[str, int], rules: Rules | None = None) -> TcpProxy:
    """A proxy to ``upstream`` on a free port of 127.0.0.1; call ``stop()`` when done."""
    return TcpProxy(upstream=upstream, rules=rules or Rules()).start()


def http_request_line(prefix: str) -> Match:
    """Matches connections whose HTTP request line starts with ``prefix`` (``'GET '``)."""
    wanted = prefix.encode()
    return lambda first: first.startswith(wanted)


def http_request_contains(text: str) -> Match:
    """Matches connections whose first request line contains ``text``."""
    wanted = text.encode()
    return lambda first: wanted in first.split(b"\r\n", 1)[0]
