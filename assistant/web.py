"""The HTML pages: the chat page and the source page, rendered server-side with Jinja2.

Every page works without JavaScript (`GET /?q=...` renders the answer); `web/static/app.js`
only makes asking faster and adds copy buttons. Templates autoescape everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from .answer import Citation, citation_line, format_year
from .api.dependencies import current_assistant
from .corpus import Document
from .errors import QuestionError
from .pipeline import Assistant
from .settings import PROJECT_ROOT

WEB_DIR = PROJECT_ROOT / "web"


def year_label(meta) -> str:
    return format_year(meta.year)


def source_label(citation: Citation) -> str:
    """The citation line without its rank (for "Also in")."""
    return citation.label()


def newest_year(answer) -> int | None:
    """The year marked "newest" on the cards: set only when the answer's sources span years."""
    return answer.sources_span[1] if answer.sources_span else None


def citation_text(citation: Citation) -> str:
    """What "Copy citation" puts on the clipboard: title, publisher, year and address."""
    return f"{citation.source()}." + (f" {citation.url}" if citation.url else "")


def source_link(doc_id: str, start: int, end: int) -> str:
    return f"/documents/{quote(doc_id, safe='')}?{urlencode({'start': start, 'end': end})}#passage"


@dataclass
class Segment:
    text: str
    marked: bool = False
    anchor: bool = False


@dataclass
class Item:
    """A heading, a paragraph, or a run of bullets (rendered as one list)."""

    kind: str
    level: int = 0
    page_break: bool = False
    parts: list[list[Segment]] = field(default_factory=list)


def document_items(document: Document, start: int | None, end: int | None) -> list[Item]:
    """The document's blocks, with the span `start:end` cut out as marked segments; the first
    marked segment carries the `#passage` anchor."""
    text, items, anchored = document.text, [], False
    for block in document.clean.blocks:
        segments = []
        cuts = [block.start, block.end]
        if start is not None and end is not None and start < block.end and end > block.start:
            cuts = [block.start, max(start, block.start), min(end, block.end), block.end]
        for i, (a, b) in enumerate(zip(cuts, cuts[1:])):
            if a < b:
                marked = len(cuts) == 4 and i == 1
                segments.append(Segment(text[a:b], marked, marked and not anchored))
                anchored = anchored or marked
        if block.kind == "bullet" and items and items[-1].kind == "list" and not block.page_break_before:
            items[-1].parts.append(segments)
        else:
            kind = "list" if block.kind == "bullet" else block.kind
            items.append(Item(kind, block.level, block.page_break_before, [segments]))
    return items


def _span(document: Document, start: str | None, end: str | None) -> tuple[int, int] | tuple[None, None]:
    """A valid character span of the document, or none: a bad link still shows the source."""
    try:
        first, last = int(start or ""), int(end or "")
    except ValueError:
        return None, None
    return (first, last) if 0 <= first < last <= len(document.text) else (None, None)


def static_files() -> StaticFiles:
    """The page's CSS and JavaScript, mounted at /static."""
    return StaticFiles(directory=WEB_DIR / "static")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(WEB_DIR / "templates"), autoescape=True)
    env.globals.update(citation_line=citation_line, citation_text=citation_text, newest_year=newest_year,
                       source_label=source_label, source_link=source_link, year_label=year_label)
    return env


templates = Jinja2Templates(env=_environment())
router = APIRouter(include_in_schema=False)


def _sources(assistant: Assistant) -> list[dict]:
    documents = assistant.index.documents.values()
    return sorted(({"doc_id": d.doc_id, "meta": d.metadata} for d in documents),
                  key=lambda s: (s["meta"].year or 0, s["meta"].title), reverse=True)


@router.get("/", response_class=HTMLResponse)
async def chat(request: Request, q: str | None = None, k: str | None = None,
               assistant: Assistant = Depends(current_assistant)):
    """The chat page; with `q`, the answer rendered server-side so it works without JS."""
    answer, error, status = None, None, 200
    if q is not None and q.strip():
        try:
            answer = await run_in_threadpool(assistant.ask, q, _int(k))
        except QuestionError as problem:
            error, status = str(problem), 422
    context = {"q": (q or "").strip(), "answer": answer, "error": error, "sources": _sources(assistant),
               "examples": assistant.settings.example_questions}
    return templates.TemplateResponse(request, "index.html", context, status_code=status)


@router.get("/documents/{doc_id}", response_class=HTMLResponse)
def source(request: Request, doc_id: str, start: str | None = None, end: str | None = None,
           assistant: Assistant = Depends(current_assistant)):
    """A source, cleaned, with the span `start:end` (a citation's offsets) marked as `#passage`."""
    document = assistant.index.documents.get(doc_id)
    if document is None:
        return templates.TemplateResponse(request, "not_found.html", {"doc_id": doc_id}, status_code=404)
    first, last = _span(document, start, end)
    context = {"doc": document, "meta": document.metadata, "items": document_items(document, first, last),
               "span": (first, last) if first is not None else None, "asked_span": start is not None}
    return templates.TemplateResponse(request, "document.html", context)


def _int(value: str | None) -> int | str | None:
    """`k` from the query string: a number when it reads as one; anything else is passed on as
    given, for `Assistant.ask` to refuse with its own message."""
    if value is None or not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        return value
