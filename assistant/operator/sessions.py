"""Who is signed in, and how fast someone may guess: both kept in the server's memory only (a
restart signs everyone out; nothing about a session is written to disk).

A session is a random id (the cookie's value) with its own CSRF token and an expiry. Failed
sign-ins are counted per client: after a few, each further try must wait, longer each time, and is
refused with 429 and Retry-After until then (no thread is held sleeping). Both tables are bounded.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

MAX_SESSIONS = 256
MAX_CLIENTS = 4096


@dataclass
class Session:
    """One signed-in browser: its CSRF token and when it ends (time.monotonic seconds)."""

    csrf: str
    expires: float
    started: float = field(default_factory=time.time)

    def csrf_matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(self.csrf.encode(), given.encode("utf-8", "replace"))


class Sessions:
    """The signed-in sessions, by id; the oldest is dropped when there are MAX_SESSIONS."""

    def __init__(self, lifetime_seconds: float):
        self.lifetime = lifetime_seconds
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def open(self) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        session = Session(csrf=secrets.token_urlsafe(32), expires=time.monotonic() + self.lifetime)
        with self._lock:
            self._sessions[session_id] = session
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id, or None (unknown, forged or expired)."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if session.expires <= time.monotonic():
                del self._sessions[session_id]
                return None
            return session

    def close(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)


@dataclass
class _Attempts:
    failures: int = 0
    not_before: float = 0.0


class SignInThrottle:
    """Failed sign-ins per client: the first `free` cost nothing; after that each failure makes the
    client wait `base` seconds, doubled each time, at most `cap`."""

    def __init__(self, free: int = 5, base: float = 1.0, cap: float = 300.0):
        self.free, self.base, self.cap = free, base, cap
        self._clients: OrderedDict[str, _Attempts] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds `client` must still wait before trying again (0: it may try now)."""
        with self._lock:
            attempts = self._clients.get(client)
            return max(0.0, attempts.not_before - time.monotonic()) if attempts else 0.0

    def failed(self, client: str) -> None:
        with self._lock:
            attempts = self._clients.pop(client, None) or _Attempts()
            attempts.failures += 1
            extra = attempts.failures - self.free
            if extra > 0:
                attempts.not_before = time.monotonic() + min(self.cap, self.base * 2 ** (extra - 1))
            self._clients[client] = attempts
            while len(self._clients) > MAX_CLIENTS:
                self._clients.popitem(last=False)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)
