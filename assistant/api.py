"""The HTTP API (FastAPI). Every route goes through the same `Assistant` as the CLI.

Questions are sensitive: they are never logged unless `log_questions` is on, the access log
records paths without query strings, and responses are marked `no-store`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import time
from dataclasses import asdict

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .answer import Answer
from .errors import AssistantError, QuestionError
from .pipeline import Assistant

log = logging.getLogger(__name__)
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


class AskRequest(BaseModel):
    question: str = Field(
        strict=True,
        description="The question: 1 to 1,000 characters once trimmed, no control characters (line breaks and tabs are fine).",
        examples=["Is sex work legal in Kazakhstan?"],
    )
    k: int = Field(5, strict=True, ge=1, description="How many passages to return, 1 to 50 (the `max_k` setting).")


class ErrorResponse(BaseModel):
    error: str = Field(description="What was wrong, in one sentence.")


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    publisher: str | None
    date: str | None
    date_note: str | None
    year: int | None
    url: str | None
    language: str | None
    passages: int


class DocumentText(DocumentSummary):
    text: str = Field(description="The served text: citation offsets point into it.")
    pages: list[int] = Field(
        default_factory=list, description="For a PDF: the offset in `text` where each page starts (page n at pages[n-1])."
    )


class Health(BaseModel):
    status: str
    documents: int
    passages: int
    model: str
    built_at: str | None


def create_app(assistant: Assistant) -> FastAPI:
    app = FastAPI(
        title="Cited-passage assistant",
        description="Questions in, ranked passages of the source documents out, each with an exact citation.",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
    )
    app.state.assistant = assistant
    app.add_middleware(HeadersAndAccessLog)

    @app.middleware("http")
    async def reload_changed_index(request: Request, call_next):
        """A document added or removed (`assistant add`/`remove`) shows up without a restart."""
        refresh = getattr(app.state.assistant, "refresh", None)
        if refresh is not None and not request.url.path.startswith("/static/"):
            await run_in_threadpool(refresh)
        return await call_next(request)
    errors = {400: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError):
        problems = error.errors()
        status = 400 if any(p.get("type") == "json_invalid" for p in problems) else 422
        return JSONResponse({"error": "; ".join(_describe(p) for p in problems) or "invalid request"}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(QuestionError)
    async def bad_question(request: Request, error: QuestionError):
        return JSONResponse({"error": str(error)}, status_code=422)

    @app.exception_handler(AssistantError)
    async def unavailable(request: Request, error: AssistantError):
        return JSONResponse({"error": str(error)}, status_code=503)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception):
        return JSONResponse({"error": "internal error: the server log has the details"}, status_code=500)

    @app.get("/healthz", response_model=Health)
    def healthz() -> Health:
        index = app.state.assistant.index
        return Health(
            status="ok",
            documents=len(index.documents),
            passages=len(index.passages),
            model=index.manifest.get("model", {}).get("name", "unknown"),
            built_at=index.manifest.get("built_at"),
        )

    @app.post("/api/ask", response_model=Answer, responses=errors)
    async def ask(body: AskRequest) -> Answer:
        """The ranked, cited passages that answer `question`; `abstained` when none seems to."""
        return await run_in_threadpool(app.state.assistant.ask, body.question, body.k)

    @app.get("/api/documents", response_model=list[DocumentSummary])
    def documents() -> list[DocumentSummary]:
        return [_summary(app.state.assistant, doc_id) for doc_id in app.state.assistant.index.documents]

    @app.get("/api/documents/{doc_id}", response_model=DocumentText, responses={404: {"model": ErrorResponse}})
    def document(doc_id: str):
        index = app.state.assistant.index
        if doc_id not in index.documents:
            return JSONResponse({"error": f"no document with id {doc_id!r}; GET /api/documents lists them"}, status_code=404)
        found = index.documents[doc_id]
        return DocumentText(**_summary(app.state.assistant, doc_id).model_dump(), text=found.text, pages=list(found.pages))

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI loads from its CDN and starts with one inline script, allowed by its hash."""
        page = get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} — API")
        policy = (
            f"default-src 'self'; script-src https://cdn.jsdelivr.net {_script_hashes(page.body.decode())}; "
            "style-src https://cdn.jsdelivr.net 'unsafe-inline'; img-src 'self' data: https://fastapi.tiangolo.com; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
        )
        page.headers["content-security-policy"] = policy
        return page

    from .web import add_web_routes

    add_web_routes(app)
    return app


class HeadersAndAccessLog:
    """Adds the security headers to every response (a route may set its own CSP) and logs each
    request as method, path (never the query string, which may hold a question), status, time."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = dict(SECURITY_HEADERS)
                if not scope["path"].startswith("/static/"):
                    extra["cache-control"] = "no-store"
                message["headers"] = list(message.get("headers", [])) + [
                    (name.encode(), value.encode()) for name, value in extra.items() if name.encode() not in present
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            access_log.info("%s %s %d %.0f ms", scope["method"], scope["path"], status, elapsed)


def _script_hashes(html: str) -> str:
    bodies = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in bodies)


def _summary(assistant: Assistant, doc_id: str) -> DocumentSummary:
    index = assistant.index
    return DocumentSummary(**asdict(index.documents[doc_id].metadata), doc_id=doc_id,
                           passages=index.passage_counts[doc_id])


def _describe(error: dict) -> str:
    if error.get("type") == "json_invalid":
        return "the request body is not valid JSON"
    if tuple(error.get("loc", ())) == ("body",):
        return 'the body must be a JSON object such as {"question": "...", "k": 5}, sent as application/json'
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    return f"{where or 'body'}: {error.get('msg', 'invalid')}"
