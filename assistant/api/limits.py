"""Two bounds on what reaches the app: how many requests it handles at once (503 with Retry-After
beyond, at once, rather than a queue that times out), and which host names it answers to (400 for
a Host header it does not know). Both answer in the app's error shape, `{"error": "..."}`, in the
request's language. The bounds on connections are the server's (`server.py`)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.api.language import request_language
from assistant.i18n import N_, Message

ANY_INTERFACE = {"0.0.0.0", "::", ""}
"""`host` values that listen on every interface (uvicorn reads "" as all of them too)."""
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


class ConcurrencyLimit:
    """At most `limit` requests in the app at once, counted from their head's arrival to their
    response's end (a slowly arriving body holds its place); the next ones get 503 and
    `Retry-After: retry_after` without waiting. One event loop runs the count, so it needs no lock."""

    def __init__(self, app: ASGIApp, limit: int, retry_after: int):
        self.app = app
        self.limit = limit
        self.retry_after = retry_after
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.active >= self.limit:
            said = Message(N_("the server is busy with other requests: try again in {seconds} seconds"),
                           {"seconds": self.retry_after}).render(request_language(Request(scope)))
            response = JSONResponse({"error": said}, status_code=503, headers={"retry-after": str(self.retry_after)})
            return await response(scope, receive, send)
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


class AllowedHosts:
    """Answers only requests whose Host header names this server: its own address, the loopback
    names, `extra` ("*.example.org" for subdomains, "*" for anything) and, when it listens on every
    interface, any IP address (phones on the LAN use the machine's address; a DNS name that an
    attacker points at it arrives with that name). Other requests get 400. A request without a Host
    (HTTP/1.0) is answered: nothing is built from a host that was not sent."""

    def __init__(self, app: ASGIApp, served_host: str, extra: Iterable[str] = ()):
        self.app = app
        self.names = {name.lower().removeprefix("[").removesuffix("]") for name in (*LOCAL_NAMES, served_host, *extra)}
        self.names.discard("")
        self.any_address = served_host in ANY_INTERFACE

    def allows(self, host: str | None) -> bool:
        if host is None:
            return True
        name = host_name(host)
        if name is None:
            return False
        if "*" in self.names or name in self.names:
            return True
        if any(pattern.startswith("*.") and name.endswith(pattern[1:]) for pattern in self.names):
            return True
        return self.any_address and _is_address(name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = dict(scope.get("headers") or []).get(b"host")
        text = None if host is None else host.decode("latin-1")
        if self.allows(text):
            return await self.app(scope, receive, send)
        said = Message(N_("this server does not answer to the host name {host}: use its address, or ask its operator "
                          "to add the name to the allowed_hosts setting"),
                       {"host": (text or "")[:100]}).render(request_language(Request(scope)))
        await JSONResponse({"error": said}, status_code=400, headers={"connection": "close"})(scope, receive, send)


def host_name(header: str) -> str | None:
    """The name or address a Host header gives, in lower case (an IPv6 address without its
    brackets); None when the header is not a host with an optional port."""
    if not header or any(char in header for char in "/?#@\\ \t"):
        return None
    try:
        split = urlsplit("//" + header)
        split.port  # noqa: B018 (a port that is not a number raises ValueError)
    except ValueError:
        return None
    return split.hostname or None


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
