"""The HTML pages: the chat page and the source page, rendered server-side with Jinja2.

Every page works without JavaScript: `GET /?q=...` renders the answer, filters included, and in
the private mode (the default) the form posts the same fields to `POST /`, keeping the question out
of the address. `web/static/app.js` makes asking faster, keeps the conversation (in the tab's memory,
or in its history with the private mode off), opens sources inside the page and adds the copy,
share and feedback buttons and "Leave quickly". Templates autoescape everything; the interface speaks the
language of `?lang=` or of the browser (`assistant/i18n.py`), quotations keep their own.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import QueryParams

from assistant.answer.model import Answer, Citation
from assistant.api.dependencies import current_assistant
from assistant.errors import QuestionError
from assistant.i18n import N_, UI_LANGUAGES, from_accept_language, ngettext
from assistant.ingest.corpus import Document, page_at
from assistant.languages import LANGUAGE_NAMES, LANGUAGES
from assistant.query.assistant import Assistant
from assistant.settings import PROJECT_ROOT, Settings
from assistant.ui import Ui

WEB_DIR = PROJECT_ROOT / "web"
FILTER_LANGUAGES = LANGUAGES


def source_label(citation: Citation, ui: Ui | None = None) -> str:
    """The citation line without its rank (for "Also in")."""
    return (ui or Ui()).label(citation)


def citation_text(citation: Citation, ui: Ui | None = None) -> str:
    """A plain citation: title, publisher, year, page and the source's own address."""
    ui = ui or Ui()
    return f"{ui.label(citation)}." + (f" {citation.url}" if citation.url else "")


def source_link(doc_id: str, start: int, end: int) -> str:
    """The source page with the passage `start:end` marked (the link a citation opens)."""
    return f"/documents/{quote(doc_id, safe='')}?{urlencode({'start': start, 'end': end})}#passage"


def ui_for(request: Request) -> Ui:
    """The interface language of a page request: `?lang=` (then carried in links), else the
    browser's preference (`Accept-Language`), else English."""
    chosen = (request.query_params.get("lang") or "").strip().lower()
    if chosen in UI_LANGUAGES:
        return Ui(chosen, carry=True)
    return Ui(from_accept_language(request.headers.get("accept-language")))


@dataclass
class Segment:
    text: str
    marked: bool = False
    anchor: bool = False


@dataclass
class Item:
    """A heading, a paragraph, or a run of bullets (rendered as one list); `page` is set on the
    first item of each page of a paginated source (a PDF)."""

    kind: str
    level: int = 0
    page_break: bool = False
    parts: list[list[Segment]] = field(default_factory=list)
    page: int | None = None


def document_items(document: Document, start: int | None, end: int | None) -> list[Item]:
    """The document's blocks, with the span `start:end` cut out as marked segments; the first
    marked segment carries the `#passage` anchor, and each page of a PDF starts a new item that
    says its number."""
    text, anchored, current_page = document.text, False, None
    items: list = []
    for block in document.clean.blocks:
        segments = []
        cuts = [block.start, block.end]
        if start is not None and end is not None and start < block.end and end > block.start:
            cuts = [block.start, max(start, block.start), min(end, block.end), block.end]
        for i, (a, b) in enumerate(itertools.pairwise(cuts)):
            if a < b:
                marked = len(cuts) == 4 and i == 1
                segments.append(Segment(text[a:b], marked, marked and not anchored))
                anchored = anchored or marked
        page = page_at(document.pages, block.start)
        new_page = page is not None and page != current_page
        current_page = page
        if (block.kind == "bullet" and items and items[-1].kind == "list" and not block.page_break_before
                and not new_page):
            items[-1].parts.append(segments)
        else:
            kind = "list" if block.kind == "bullet" else block.kind
            items.append(Item(kind, block.level, block.page_break_before and not document.pages, [segments],
                              page if new_page else None))
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


@jinja2.pass_context
def _gettext(context: jinja2.runtime.Context, message: str) -> str:
    return context["ui"]._(message)


@jinja2.pass_context
def _ngettext(context: jinja2.runtime.Context, singular: str, plural: str, n: int) -> str:
    return ngettext(context["ui"].lang, singular, plural, n)


@jinja2.pass_context
def _plural(context: jinja2.runtime.Context, singular: str, plural: str, n: int) -> str:
    """`n_` in a template: the plural form for `n`, `{n}` filled in (a plain name, so that pybabel
    finds its messages, which it does not in `ui.n_`)."""
    return context["ui"].n_(singular, plural, n)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(WEB_DIR / "templates"), autoescape=True,
                             extensions=["jinja2.ext.i18n"])
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(source_link=source_link, language_names=LANGUAGE_NAMES, filter_languages=FILTER_LANGUAGES,
                       N_=N_, n_=_plural)
    return env


templates = Jinja2Templates(env=_environment())
router = APIRouter(include_in_schema=False)


def _sources(assistant: Assistant) -> list[dict]:
    documents = assistant.index.documents.values()
    return sorted(({"doc_id": d.doc_id, "meta": d.metadata, "language": d.language} for d in documents),
                  key=lambda s: (s["meta"].year or s["meta"].year_estimate or 0, s["meta"].title), reverse=True)


FIELD_CHARS = 20
"""The most of a filter field (k, a year, a language) the page gives back: any valid one fits."""


@dataclass
class PageRequest:
    """What the chat page was asked: the question and the filters, as given in the query string."""

    q: str = ""
    k: str | None = None
    doc_ids: list[str] = field(default_factory=list)
    year_from: str | None = None
    year_to: str | None = None
    language: str | None = None

    @classmethod
    def of(cls, request: Request, form: QueryParams | None = None) -> PageRequest:
        """From the query string, or from a posted form (the private mode's form)."""
        params = request.query_params if form is None else form
        blank = lambda name: (params.get(name) or "").strip() or None  # noqa: E731
        return cls(q=(params.get("q") or "").strip(), k=blank("k"),
                   doc_ids=[d for d in params.getlist("doc_ids") if d.strip()],
                   year_from=blank("year_from"), year_to=blank("year_to"), language=blank("language"))

    def shown(self, max_question_chars: int, documents: Collection[str]) -> PageRequest:
        """This request as the page gives it back (the form, the language links, app.js's data): the
        question cut to the longest one asked, only documents of the collection, the other fields
        cut short. A refused question of any length, or a made-up document id, is not repeated
        through the page (the error says what was wrong, once)."""
        cut = lambda value: value[:FIELD_CHARS] if value is not None else None  # noqa: E731
        return PageRequest(q=self.q[:max_question_chars], k=cut(self.k),
                           doc_ids=[d for d in self.doc_ids if d in documents],
                           year_from=cut(self.year_from), year_to=cut(self.year_to), language=cut(self.language))

    @property
    def filtered(self) -> bool:
        return bool(self.doc_ids or self.year_from or self.year_to or self.language)

    def params(self) -> list[tuple[str, object]]:
        """The query string of this question (without the language of the interface)."""
        pairs: list[tuple[str, object]] = [("q", self.q), *(("doc_ids", d) for d in self.doc_ids)]
        pairs += [("year_from", self.year_from), ("year_to", self.year_to), ("language", self.language), ("k", self.k)]
        return pairs

    def as_json(self) -> dict:
        """The request as app.js keeps it (the body of POST /api/ask, less the question's `k`)."""
        return {"q": self.q, "doc_ids": self.doc_ids, "year_from": _int(self.year_from), "year_to": _int(self.year_to),
                "language": self.language, "k": _int(self.k)}


@router.get("/", response_class=HTMLResponse)
async def chat(request: Request, assistant: Assistant = Depends(current_assistant)):
    """The chat page; with `q`, the answer rendered server-side so it works without JS (filters
    `doc_ids`, `year_from`, `year_to`, `language` as in POST /api/ask; `lang` for the interface)."""
    return await _chat_page(request, assistant, PageRequest.of(request))


@router.post("/", response_class=HTMLResponse)
async def chat_posted(request: Request, assistant: Assistant = Depends(current_assistant)):
    """The chat page's form in private mode, without JS: the same fields as `GET /`, in an
    `application/x-www-form-urlencoded` body, so the question stays out of the address and the
    history. The body is already bounded (`max_request_bytes`)."""
    form = QueryParams((await request.body()).decode("utf-8", errors="replace"))
    return await _chat_page(request, assistant, PageRequest.of(request, form))


async def _chat_page(request: Request, assistant: Assistant, asked: PageRequest) -> HTMLResponse:
    ui = ui_for(request)
    answer, error, status = None, None, 200
    if asked.q:
        try:
            answer = await run_in_threadpool(
                assistant.ask, asked.q, _int(asked.k), doc_ids=asked.doc_ids or None, year_from=_int(asked.year_from),
                year_to=_int(asked.year_to), language=asked.language)
        except QuestionError as problem:
            error, status = problem.render(ui.lang), 422
    settings = assistant.settings
    feedback = settings.feedback
    asked = asked.shown(settings.max_question_chars, assistant.index.documents)
    # The language links carry the question only when the address already does (GET): in the
    # private mode's posted form it stays out of every address.
    linked = asked if request.method == "GET" else PageRequest()
    context = {**page_frame(request, assistant, ui, linked), "q": asked.q, "asked": asked, "answer": answer, "error": error,
               "feedback": feedback, "sources": _sources(assistant), "private": settings.private_mode,
               "examples": _examples(ui, settings.example_questions),
               "privacy_note": privacy_note(ui, private=settings.private_mode, feedback=feedback),
               "page_data": _page_data(ui, asked, answer, settings)}
    response = templates.TemplateResponse(request, "index.html", context, status_code=status)
    response.headers["vary"] = "Accept-Language"
    return response


@router.get("/documents/{doc_id}", response_class=HTMLResponse)
def source(request: Request, doc_id: str, start: str | None = None, end: str | None = None,
           assistant: Assistant = Depends(current_assistant)):
    """A source, cleaned, with the span `start:end` (a citation's offsets) marked as `#passage`,
    and for a PDF the start of each page."""
    ui = ui_for(request)
    document = assistant.index.documents.get(doc_id)
    common = page_frame(request, assistant, ui)
    if document is None:
        return templates.TemplateResponse(request, "not_found.html", {**common, "doc_id": doc_id}, status_code=404)
    first, last = _span(document, start, end)
    context = {**common, "doc": document, "meta": document.metadata, "items": document_items(document, first, last),
               "span": (first, last) if first is not None else None, "asked_span": start is not None,
               "span_page": page_at(document.pages, first) if first is not None else None}
    return templates.TemplateResponse(request, "document.html", context)


def page_frame(request: Request, assistant: Assistant, ui: Ui, asked: PageRequest | None = None) -> dict:
    """What every page's frame needs: the interface, the language switch (on the chat page, for the
    question as `asked` shows it), "Leave quickly"."""
    return {"ui": ui, "switch": _language_links(request, asked),
            "leave_url": assistant.settings.leave_url}


PRIVATE_NOTE = N_("About privacy: your questions are not kept on the server or in this browser. The conversation "
                  "is only in this tab until you clear it, leave, reload or close the tab.")
PUBLIC_NOTE = N_("About privacy: your questions are not kept on the server, but each one is in this page's address "
                 "and the browser's history.")
FEEDBACK_NOTE = N_("The feedback buttons save the question and passage on the server of this service.")


def privacy_note(ui: Ui, *, private: bool, feedback: bool) -> str:
    """The one line on the chat page that says what is kept and where."""
    note = ui._(PRIVATE_NOTE if private else PUBLIC_NOTE)
    return f"{note} {ui._(FEEDBACK_NOTE)}" if feedback else note


def _examples(ui: Ui, questions: list[str]) -> list[tuple[str, str]]:
    """The example questions in the reader's language where the catalogue has them (each with the
    language it is in, for its `lang` attribute)."""
    shown = []
    for question in questions:
        translated = ui._(question)
        shown.append((translated, ui.lang if translated != question else "en"))
    return shown


LINK_FIELDS = ("start", "end")
"""The query fields another page than the chat page keeps in its language links (a source's
passage): nothing else a link was given is repeated in the page."""
LINK_FIELDS_MAX = len(LINK_FIELDS)


def _language_links(request: Request, asked: PageRequest | None) -> list[dict]:
    """The language switch: this page in each interface language (`lang=` replaced). Only the
    fields a page reads are kept, each cut to the most it can be (the chat page's as `asked` shows
    them), so a long or made-up query string is not repeated three times."""
    params: list[tuple[str, str]]
    if asked is not None:
        params = [(key, str(value)) for key, value in asked.params() if value]
    else:
        params = [(key, value[:FIELD_CHARS]) for key, value in request.query_params.multi_items()
                  if key in LINK_FIELDS][:LINK_FIELDS_MAX]
    return [{"code": code, "name": name, "href": f"{request.url.path}?{urlencode([*params, ('lang', code)])}"}
            for code, name in LANGUAGE_NAMES.items()]


def _page_data(ui: Ui, asked: PageRequest, answer: Answer | None, settings: Settings) -> dict:
    """What app.js needs from the server: the interface's messages, whether feedback and the private
    mode are on, and the answer shown (so the conversation can start from it without asking)."""
    shown = None
    if answer is not None:
        shown = answer.said_in(ui.lang).model_dump(mode="json")
    return {"lang": ui.lang, "carry": ui.carry, "messages": ui.script_messages(), "feedback": settings.feedback,
            "private": settings.private_mode, "request": asked.as_json() if answer is not None else None,
            "answer": shown}


def _int(value: str | None) -> int | str | None:
    """A number from the query string when it reads as one; anything else is passed on as given,
    for `Assistant.ask` to refuse with its own message."""
    if value is None or not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        return value
