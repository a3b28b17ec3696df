"""The HTTP server: uvicorn, with the bounds it lacks for a server that phones reach directly.

What uvicorn 0.55 (h11 protocol, asyncio loop: httptools and uvloop are not installed) does itself,
read from its source, and what this module adds:

- `timeout_keep_alive` closes a connection left idle after a response, and only then: one that never
  completes its first request head, or sends a body a byte at a time, stays open for ever (slowloris).
  `BoundedH11Protocol` gives the head and the body each a deadline (`header_timeout_seconds`,
  `body_timeout_seconds` plus a second per `body_min_bytes_per_second` received).
- `limit_concurrency` counts open connections as well as running requests, so idle connections
  alone make it answer every request, /healthz too, with a plain-text 503 without Retry-After: not
  used; `limits.ConcurrencyLimit` bounds the requests in the app instead.
- `h11_max_incomplete_event_size` bounds the request head's size: used (`max_header_bytes`).
- `backlog` is both the listen queue and how many connections asyncio accepts in one go: uvicorn's
  2048 kept.
- Out of file descriptors, asyncio's accept loop (Python 3.11-3.13) logs a traceback for every one
  of `backlog` attempts, and again each second (cpython gh-151615): 70 MB of stderr in 21 s. Open
  connections are capped below the open-file limit (`max_connections`), and `Server` turns that
  complaint into one line a minute at most.
- Its protocol warns once for each request it cannot parse and twice for each `Upgrade: websocket`
  (112 bytes of stderr a request, at any client's will): `ClientCaused` makes those a line a minute.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
import time
from typing import Any, Literal

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from assistant.settings import Settings

log = logging.getLogger("assistant.server")

Phase = Literal["head", "idle", "body"] | None
"""What a connection waits for: a request head, the next request after a response (uvicorn's
keep-alive timer runs), the rest of a body; None while the app works on a request."""
WAITING: tuple[Phase, ...] = ("head", "idle")
"""Phases without a request in progress: such a connection may give its place to a new one."""
OWN_FILES = 64
"""File descriptors left for the server's own files (13 when serving: models, index, logs, the
event loop), besides one per request in flight."""
OUT_OF_FILES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def connection_cap(settings: Settings) -> int:
    """`max_connections`, lowered to what the open-file limit leaves after the server's own files."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return settings.max_connections
    room = soft - OWN_FILES - settings.max_concurrent_requests
    if room < settings.max_connections:
        log.info("the open-file limit (ulimit -n %d) leaves room for %d connections, fewer than max_connections (%d)",
                 soft, max(room, 1), settings.max_connections)
    return max(1, min(settings.max_connections, room))


class Complaints:
    """Trouble a client can repeat at will (running out of descriptors, a full server) said in one
    line at most every `every` seconds for each kind, with how often it happened meanwhile."""

    def __init__(self, every: float = 60.0):
        self.every = every
        self.said: dict[str, float] = {}
        self.since: dict[str, int] = {}

    def say(self, kind: str, message: str) -> None:
        self.since[kind] = self.since.get(kind, 0) + 1
        now = time.monotonic()
        if kind in self.said and now - self.said[kind] < self.every:
            return
        times = self.since.pop(kind)
        self.said[kind] = now
        log.warning("%s%s", message, f" ({times} times in the last {self.every:.0f} s)" if times > 1 else "")


class ClientCaused(logging.Filter):
    """uvicorn's protocol warns once per request about what any client can send at will (a request
    h11 cannot parse, an Upgrade: websocket header: two lines each); those warnings go through
    `complaints` instead, one line a minute. Its errors (an exception in the app) still show."""

    def __init__(self) -> None:
        super().__init__()
        self.complaints = Complaints()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING or record.module != "h11_impl":
            return True
        message = record.getMessage()
        self.complaints.say(message, f"uvicorn: {message}")
        return False


CLIENT_CAUSED = ClientCaused()


class Config(uvicorn.Config):
    """uvicorn's configuration from the settings: the bounded protocol, the keep-alive and head-size
    limits, no access log (the app keeps its own, without query strings)."""

    def __init__(self, app: Any, settings: Settings, **options: Any):
        super().__init__(app, host=settings.host, port=settings.port, http=BoundedH11Protocol, ws="none",
                         timeout_keep_alive=settings.keep_alive_seconds,
                         h11_max_incomplete_event_size=settings.max_header_bytes,
                         access_log=False, log_level="warning", **options)
        self.settings = settings
        self.max_connections = connection_cap(settings)
        self.complaints = Complaints()


class Server(uvicorn.Server):
    """uvicorn's server, which says it is out of file descriptors, or that clients send what it
    cannot parse, in one line a minute."""

    config: Config

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().set_exception_handler(self._loop_error)
        uvicorn_log = logging.getLogger("uvicorn.error")
        if CLIENT_CAUSED not in uvicorn_log.filters:
            uvicorn_log.addFilter(CLIENT_CAUSED)
        await super().startup(sockets=sockets)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in OUT_OF_FILES:
            self.config.complaints.say("files", f"cannot accept connections: {error.strerror}; they wait until some "
                                                f"close (raise the open-file limit, ulimit -n, or lower max_connections)")
        else:
            loop.default_exception_handler(context)


def serve(app: Any, settings: Settings) -> None:
    """Serve `app` on `settings.host` and `settings.port` until interrupted."""
    Server(Config(app, settings)).run()


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines for the request head and body, and a cap on open connections.

    A connection's head must arrive within `header_timeout_seconds` of its connecting, or of its
    first byte after a keep-alive pause; its body within `body_timeout_seconds` of the head plus one
    second per `body_min_bytes_per_second` received (not counting time the server itself stopped
    reading). Past its deadline the connection is closed. Past `max_connections`, a new connection
    takes the place of the one that has waited longest without a request in progress."""

    config: Config

    def __init__(self, config: Config, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None):
        super().__init__(config, server_state, app_state, _loop)
        self.phase: Phase = None
        self.since = 0.0
        self.body_bytes = 0
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self._make_room():
            self._follow()

    def data_received(self, data: bytes) -> None:
        if self.phase == "body":
            self.body_bytes += len(data)
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._enter(None)
        super().connection_lost(exc)

    def _follow(self) -> None:
        """The phase h11's state says the connection is in, entered when it changed."""
        if self.transport.is_closing():
            phase: Phase = None
        elif self.conn.their_state is h11.SEND_BODY:
            phase = "body"
        elif self.conn.their_state is h11.IDLE:
            phase = "idle" if self.timeout_keep_alive_task is not None else "head"
        else:
            phase = None
        if phase != self.phase:
            self._enter(phase)

    def _enter(self, phase: Phase) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        self.phase, self.since, self.body_bytes = phase, self.loop.time(), 0
        if phase == "head":
            self.deadline = self.loop.call_later(self.config.settings.header_timeout_seconds, self._expire)
        elif phase == "body":
            self.deadline = self.loop.call_later(self.config.settings.body_timeout_seconds, self._expire)

    def _expire(self) -> None:
        self.deadline = None
        if self.phase == "body":
            if self.flow.read_paused:  # the app has not taken what came: the server is the slow one
                self._enter("body")
                return
            settings = self.config.settings
            due = self.since + settings.body_timeout_seconds + self.body_bytes / settings.body_min_bytes_per_second
            if self.loop.time() < due:
                self.deadline = self.loop.call_later(due - self.loop.time(), self._expire)
                return
        self.transport.close()

    def _make_room(self) -> bool:
        """Whether this new connection may stay: within the cap, or past it in the place of the
        connection that has waited longest without a request in progress (closed for it)."""
        if len(self.connections) <= self.config.max_connections:
            return True
        open_now = [c for c in self.connections if not c.transport.is_closing()]
        if len(open_now) <= self.config.max_connections:
            return True
        waiting = [c for c in open_now if isinstance(c, BoundedH11Protocol) and c is not self and c.phase in WAITING]
        self.config.complaints.say("connections", f"{len(open_now) - 1} connections are open, the most allowed "
                                                  f"(max_connections, or what the open-file limit leaves)")
        if waiting:
            min(waiting, key=lambda c: c.since).transport.close()
            return True
        self.transport.close()
        return False
