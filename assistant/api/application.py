"""The FastAPI application: routers, error handlers and middleware around one `Assistant`.

Questions are sensitive: they are never logged unless `log_questions` is on, the access log
records paths without query strings, and responses are marked `no-store`.
"""

from __future__ import annotations

import contextlib
import html
import logging
import time
from urllib.parse import urlsplit, urlunsplit

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request as StarletteRequest
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

from assistant.api._rate_limit import RateLimit
from assistant.api.language import VALIDATION_MESSAGES, request_language, translate
from assistant.api.limits import AllowedHosts, ConcurrencyLimit
from assistant.api.models import document_limits
from assistant.api.routers import ask, docs, documents, feedback, health
from assistant.errors import AssistantError, QuestionError, UnknownDocumentError
from assistant.i18n import N_, Message
from assistant.operator.jobs import Jobs
from assistant.operator.sessions import Sessions, SignInThrottle
from assistant.operator.uploads import UPLOAD_ROUTES, PendingUploads
from assistant.query.assistant import Assistant

access_log = logging.getLogger("assistant.access")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def create_app(assistant: Assistant) -> FastAPI:
    """The app serving `assistant`: JSON API, chat and source pages, OpenAPI docs."""
    from assistant.api.routers import operator, pages

    app = FastAPI(
        title="Cited-passage assistant",
        description="Questions in, ranked passages of the source documents out, each with an exact citation.",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
    )
    app.state.assistant = assistant
    app.state.operator_sessions = Sessions(assistant.settings.operator_session_minutes * 60)
    app.state.sign_in_throttle = SignInThrottle()
    app.state.feedback_limit = RateLimit(assistant.settings.feedback_per_minute)
    app.state.operator_jobs = Jobs()
    app.state.pending_uploads = PendingUploads(3 * assistant.settings.max_upload_bytes)
    settings = assistant.settings
    # The last added runs first: headers and log, host, concurrency, body size, then the index's reload.
    app.middleware("http")(reload_changed_index)
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes,
                       larger=dict.fromkeys(UPLOAD_ROUTES, settings.max_upload_bytes))
    app.add_middleware(ConcurrencyLimit, limit=settings.max_concurrent_requests,
                       retry_after=settings.busy_retry_after_seconds)
    app.add_middleware(AllowedHosts, served_host=settings.host, extra=settings.allowed_hosts)
    app.add_middleware(HeadersAndAccessLog)
    # Starlette types a handler as taking any Exception, so one typed for its own exception class
    # does not match (Kludex/starlette#2417); each is registered only for that class.
    app.add_exception_handler(RequestValidationError, invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(UnknownDocumentError, unknown_document)  # type: ignore[arg-type]
    app.add_exception_handler(QuestionError, bad_question)  # type: ignore[arg-type]
    app.add_exception_handler(AssistantError, unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, internal_error)
    for router in (health.router, ask.router, documents.router, feedback.router, docs.router, operator.router,
                   pages.router):
        app.include_router(router)
    app.mount("/static", pages.static_files(), name="static")
    app.mount(docs.ASSETS_PATH, docs.assets(), name="docs-assets")
    generate = app.openapi

    def openapi() -> dict:
        """FastAPI's schema with the limits the code enforces, made once."""
        if app.openapi_schema is None:
            app.openapi_schema = document_limits(generate(), assistant.settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def reload_changed_index(request: Request, call_next):
    """A document added or removed (`assistant add`/`remove`) shows up without a restart."""
    refresh = getattr(request.app.state.assistant, "refresh", None)
    if refresh is not None and not request.url.path.startswith("/static/"):
        await run_in_threadpool(refresh)
    return await call_next(request)


async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    """A body that is not JSON (400) or not the right shape (422), said in the request's language."""
    problems, lang = error.errors(), request_language(request)
    status = 400 if any(p.get("type") == "json_invalid" for p in problems) else 422
    described = "; ".join(_describe(p, lang) for p in problems) or Message(N_("invalid request")).render(lang)
    return JSONResponse({"error": described}, status_code=status)


async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    return JSONResponse({"error": translate(request, str(error.detail))}, status_code=error.status_code,
                        headers=error.headers)


async def bad_question(request: Request, error: QuestionError) -> JSONResponse:
    return JSONResponse({"error": error.render(request_language(request))}, status_code=422)


async def unknown_document(request: Request, error: UnknownDocumentError) -> JSONResponse:
    return JSONResponse({"error": error.render(request_language(request))}, status_code=404)


async def unavailable(request: Request, error: AssistantError) -> JSONResponse:
    return JSONResponse({"error": error.render(request_language(request))}, status_code=503)


async def internal_error(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"error": translate(request, N_("internal error: the server log has the details"))},
                        status_code=500)


class BodyLimit:
    """Refuses a request body over `limit` bytes with 413 and a JSON error before anything parses
    it: at once when Content-Length says so, else (a chunked body) as soon as the bytes received pass
    the limit. A body within it is held (at most `limit` bytes) and handed on unchanged."""

    def __init__(self, app: ASGIApp, limit: int, larger: dict[tuple[str, str], int] | None = None):
        self.app = app
        self.limit = limit
        self.larger = larger or {}
        """Routes (method, path) allowed a larger body: an operator's upload."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.larger.get((scope["method"], scope["path"]), self.limit)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self._refuse(scope, send, limit)
        held: list[ASGIMessage] = []
        size = 0
        while True:
            message = await receive()
            held.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                return await self._refuse(scope, send, limit)
            if not message.get("more_body", False):
                break

        async def replay() -> ASGIMessage:
            return held.pop(0) if held else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        if limit == self.limit:
            message = Message(N_("the request body is over {limit} bytes: send a shorter question (the limit is the "
                                 "max_request_bytes setting)"), {"limit": f"{limit:,}"})
        else:
            message = Message(N_("the upload is over {limit} bytes: send fewer or smaller files (the limit is the "
                                 "max_upload_bytes setting)"), {"limit": f"{limit:,}"})
        request = StarletteRequest(scope)
        said = message.render(request_language(request))
        response: Response
        if "text/html" in request.headers.get("accept", "") and not scope["path"].startswith("/api/"):
            # A page's form (the operator's upload): a page that says so, not JSON.
            response = HTMLResponse(f'<!doctype html><html lang="{request_language(request)}"><meta charset="utf-8">'
                                    f'<title>413</title><p role="alert">{html.escape(said)}</p>'
                                    f'<p><a href="{html.escape(scope["path"])}">↩</a></p></html>',
                                    status_code=413, headers={"connection": "close"})
        else:
            response = JSONResponse({"error": said}, status_code=413, headers={"connection": "close"})
        await response({"type": "http"}, _no_body, send)


async def _no_body() -> ASGIMessage:
    return {"type": "http.disconnect"}


class HeadersAndAccessLog:
    """Adds the security headers to every response (a route may set its own CSP), makes a redirect
    to this server a path (Starlette's trailing-slash redirect writes the Host header into it), and
    logs each request as method, path (never the query string, which may hold a question), status, time."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def send_with_headers(message: ASGIMessage) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = dict(SECURITY_HEADERS)
                if not scope["path"].startswith("/static/"):
                    extra["cache-control"] = "no-store"
                host = dict(scope.get("headers") or []).get(b"host")
                message["headers"] = [(name, _as_path(value, host) if name.lower() == b"location" else value)
                                      for name, value in message.get("headers", [])] + [
                    (name.encode(), value.encode()) for name, value in extra.items() if name.encode() not in present
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            access_log.info("%s %s %d %.0f ms", scope["method"], scope["path"], status, elapsed)


def _as_path(location: bytes, host: bytes | None) -> bytes:
    """A redirect's address without the scheme and host when it names the request's own Host,
    which the client chose: a path cannot send the browser to another site."""
    split = urlsplit(location.decode("latin-1"))
    if host is None or split.scheme not in ("http", "https") or split.netloc.lower() != host.decode("latin-1").lower():
        return location
    path = "/" + split.path.lstrip("/\\")  # never "//name": a browser reads that as another host
    return urlunsplit(("", "", path, split.query, split.fragment)).encode("latin-1")


def _describe(error: dict, lang: str = "en") -> str:
    """One validation problem in words: where it is and what is wrong (pydantic's English, or ours
    in Russian and Kazakh for the common kinds)."""
    if error.get("type") == "json_invalid":
        return Message(N_("the request body is not valid JSON")).render(lang)
    if tuple(error.get("loc", ())) == ("body",):
        return Message(N_('the body must be a JSON object such as {example}, sent as application/json'),
                       {"example": '{"question": "...", "k": 5}'}).render(lang)
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    what = error.get("msg", "invalid")
    known = VALIDATION_MESSAGES.get(str(error.get("type")))
    if lang != "en" and known is not None:
        context = {key: str(value) for key, value in (error.get("ctx") or {}).items()}
        with contextlib.suppress(KeyError, IndexError):
            what = Message(known, context).render(lang) if context else Message(known).render(lang)
    return f"{where or 'body'}: {what}"
