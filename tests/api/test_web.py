"""The HTML pages without JavaScript, through TestClient: what any browser gets from the server."""

from __future__ import annotations

import html
import json
import re

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from assistant.answer.abstain import partly_answered
from assistant.answer.asked import PARTS_BY_NAME
from assistant.answer.model import Answer, Citation, Highlight, Result
from assistant.api import create_app
from assistant.api.routers.pages import source_label, source_link
from assistant.ui import Ui

QUESTION = "Where can a migrant without propiska get an HIV test?"
OUT_OF_SCOPE = "Is prostitution legal in Germany?"
# Its results come from 2012 to 2025 sources, and one of them is also said by another document.
SPAN_QUESTION = "Is sex work criminalised in Kazakhstan?"
ALSO_IN_QUESTION = "Was sex work decriminalised in Kazakhstan?"
NOT_COVERED = "These documents do not seem to cover this."


def esc(text: str) -> str:
    return str(escape(text))


def cards(page: str) -> list[str]:
    return re.findall(r'<li class="card"[^>]*>(.*?)</li>', page, flags=re.S)


def visible(page: str) -> str:
    """The page without its data block for app.js (which holds every message the script may show)."""
    return re.sub(r'<script type="application/json" id="page-data">.*?</script>', "", page, flags=re.S)


def year_label(c) -> str:
    return Ui().year_label(c.year, c.year_estimate)


def test_first_visit_shows_the_collection_and_examples(client, web_assistant):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = visible(response.text)
    for document in web_assistant.index.documents.values():
        assert esc(document.metadata.title) in page
        assert f'href="/documents/{document.doc_id}"' in page
        assert esc(Ui().year_label(document.metadata.year, document.metadata.year_estimate)) in page
    examples = web_assistant.settings.example_questions
    assert len(examples) in (3, 4)
    for example in examples:
        assert esc(example) in page
    assert '<label for="question">' in page and 'id="question" name="q"' in page
    assert 'aria-live="polite"' in page
    assert '<button type="submit">Ask</button>' in page


def test_question_in_the_query_renders_ranked_cited_cards(client, web_assistant):
    response = client.get("/", params={"q": QUESTION})
    assert response.status_code == 200
    page = visible(response.text)
    answer = web_assistant.ask(QUESTION)
    found = cards(page)
    assert len(found) == len(answer.results)
    for card, result in zip(found, answer.results):
        c = result.citation
        assert card.count("<mark>") == 1
        assert f'href="{esc(source_link(c.doc_id, c.start, c.end))}"' in card
        assert f"[{result.rank}] {esc(c.title)}" in card
        assert (str(c.year) if c.year else "n.d.") in card
        assert re.search(rf'<span class="badge year">.*?{re.escape(year_label(c))}</span>', card)
        assert 'class="actions"' in card and " hidden>" in card  # copy, share: shown by app.js
    assert esc(QUESTION) in page
    assert NOT_COVERED not in page
    if web_assistant.ask(QUESTION).sources_span is None:
        assert "different years" not in page and "badge newest" not in page and 'class="timeline"' not in page


def test_highlight_is_the_marked_part_of_the_passage(client, web_assistant):
    answer = web_assistant.ask(QUESTION, 1)
    result = answer.results[0]
    card = cards(client.get("/", params={"q": QUESTION, "k": "1"}).text)[0]
    marked = re.search(r"<mark>(.*?)</mark>", card, flags=re.S).group(1)
    assert html.unescape(marked) == result.text[result.highlight.start : result.highlight.end]


def test_abstaining_says_so_above_the_nearest_passages(client):
    page = visible(client.get("/", params={"q": "what is the best recipe for chocolate cake"}).text)
    notice = page.index("These documents do not seem to cover this.")
    assert notice < page.index("Nearest passages") < page.index('<li class="card"')


def test_out_of_scope_question_says_why_and_labels_the_nearest_passages(client, web_assistant):
    answer = web_assistant.ask(OUT_OF_SCOPE)
    assert answer.abstained and "germany" in answer.abstain_reason.lower()
    page = visible(client.get("/", params={"q": OUT_OF_SCOPE}).text)
    notice = re.search(r'<p class="abstained">(.*?)</p>', page, flags=re.S).group(1)
    assert re.sub(r"<[^>]+>", "", notice) == f"{NOT_COVERED} ({esc(answer.abstain_reason)})"
    label = re.search(r'<h3 class="results-label">(.*?)</h3>', page).group(1)
    assert label == "Nearest passages, not answers"
    assert page.index(NOT_COVERED) < page.index(label) < page.index('<li class="card"')
    assert 'class="cards nearest"' in page
    # The notes are inside the aria-live region that holds the answers.
    assert page.index('id="thread" class="thread" aria-live="polite"') < page.index(NOT_COVERED)


def test_sources_from_different_years_are_noted_and_the_newest_marked(client, web_assistant):
    answer = web_assistant.ask(SPAN_QUESTION)
    assert answer.sources_span is not None, "pick a question whose results span more than five years"
    oldest, newest = answer.sources_span
    page = visible(client.get("/", params={"q": SPAN_QUESTION}).text)
    note = (f"These sources are from different years ({oldest}–{newest}), and the law may have changed. "
            "The newest is marked.")
    assert f'<p class="span-note">{note}</p>' in page
    # How recent the sources are comes before the passages; the span and the change over time after
    # them, so the first quotation on the screen is the best-ranked passage.
    as_of = f'<p class="as-of">These sources run to {answer.as_of}.</p>'
    assert page.index('aria-live="polite"') < page.index(as_of) < page.index('<li class="card"') < page.index(note)
    found = cards(page)
    assert len(found) == len(answer.results)
    for card, result in zip(found, answer.results):
        # Whose words and how recent come before the words themselves.
        assert card.index('<p class="cite">') < card.index('<blockquote class="passage"')
        assert re.search(rf'<span class="badge year">.*?{re.escape(year_label(result.citation))}</span>', card)
        assert ('<span class="badge newest">newest source</span>' in card) == (result.recency == "newest")
        older = result.citation.year or result.citation.year_estimate
        label = (f"older source: the state as of {result.state_as_of}" if result.state_as_of
                 else f"older source ({older})")
        assert (f'<span class="badge older">{label}</span>' in card) == (result.recency == "older")
    newest = {r.citation.year for r in answer.results if r.recency == "newest"}
    # The newest source's period (it and sources at most a year older) is marked newest, nothing older.
    assert newest and max(newest) - min(newest) <= 1


def test_a_fact_said_by_another_source_is_shown_as_also_in(client, web_assistant):
    answer = web_assistant.ask(ALSO_IN_QUESTION)
    folded = [(r, other) for r in answer.results for other in r.also_in]
    assert folded, "pick a question where a result has also_in"
    found = cards(visible(client.get("/", params={"q": ALSO_IN_QUESTION}).text))
    for card, result in zip(found, answer.results):
        lines = re.findall(r'<p class="also-in">Also in: <a href="([^"]*)">(.*?)</a></p>', card)
        expected = [(esc(source_link(o.doc_id, o.start, o.end)), esc(source_label(o))) for o in result.also_in]
        assert lines == expected
        # Under the card's own citation, never instead of it.
        if lines:
            assert card.index('class="cite"') < card.index('class="also-in"')
    result, other = folded[0]
    assert other.doc_id != result.citation.doc_id
    assert source_label(other).startswith(other.title) and (str(other.year) if other.year else "n.d.") in source_label(other)


class _Fixed:
    """The real assistant's index and settings, answering every question with one given answer."""

    def __init__(self, real, answer):
        self.index, self.settings, self.embedders, self._answer = real.index, real.settings, real.embedders, answer

    def ask(self, question, k=None, **filters):
        return self._answer


def test_new_answer_fields_are_escaped(web_assistant):
    evil = "<img src=x onerror=alert(1)>"
    real = web_assistant.ask(ALSO_IN_QUESTION, 1).results[0]
    other = Citation(doc_id=real.citation.doc_id, title=f"T {evil}", publisher=f"P {evil}", date="2012", year=2012,
                     url=None, section=f"S {evil}", start=real.citation.start, end=real.citation.end)
    result = Result(rank=1, score=0.5, text=real.text, highlight=Highlight(start=0, end=5),
                    citation=real.citation.model_copy(update={"year": 2025}), also_in=[other])
    result.recency = "newest"
    answer = Answer(question="q", abstained=True, abstain_reason=f"the documents do not mention {evil}",
                    sources_span=[2012, 2025], results=[result])
    with TestClient(create_app(_Fixed(web_assistant, answer))) as fixed:
        page = visible(fixed.get("/", params={"q": "q"}).text)
        assert "<img" not in page
        assert f"(the documents do not mention {esc(evil)})" in page
        assert f"T {esc(evil)} — P {esc(evil)}, 2012 · S {esc(evil)}" in page
        # A refusal never says the sources differ in time.
        assert "(2012–2025)" not in page and 'class="timeline"' not in page
        fixed.app.state.assistant._answer = answer.model_copy(update={"abstained": False, "abstain_reason": None})
        page = visible(fixed.get("/", params={"q": "q"}).text)
        assert "<img" not in page
        assert "(2012–2025)" in page and '<span class="badge newest">newest source</span>' in page


def test_question_with_markup_is_escaped(client):
    question = '<script>alert("x")</script> <img src=x onerror=alert(1)> sex work law'
    page = visible(client.get("/", params={"q": question}).text)
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(" in page


@pytest.mark.parametrize(
    ("q", "says"),
    [("x" * 1001, "limit is 1000"), ("a\x00b", "control characters")],
)
def test_bad_question_in_the_query_is_a_readable_422_page(client, q, says):
    response = client.get("/", params={"q": q})
    assert response.status_code == 422
    assert 'role="alert"' in response.text
    assert says in response.text


@pytest.mark.parametrize("k", ["0", "51", "many", "2.5"])
def test_bad_k_in_the_query_is_a_readable_422_page(client, k):
    response = client.get("/", params={"q": QUESTION, "k": k})
    assert response.status_code == 422
    assert "k must be a whole number" in response.text


def test_empty_question_shows_the_start_page(client):
    response = client.get("/", params={"q": "   "})
    assert response.status_code == 200
    assert "What the collection holds" in response.text


def test_source_page_marks_the_cited_span(client, web_assistant):
    result = web_assistant.ask(QUESTION, 1).results[0]
    c = result.citation
    response = client.get(source_link(c.doc_id, c.start, c.end))
    assert response.status_code == 200
    page = visible(response.text)
    document = web_assistant.index.documents[c.doc_id]
    assert f'<h1 lang="{document.language}">{esc(document.metadata.title)}</h1>' in page
    assert page.count('id="passage"') == 1
    marked = "".join(html.unescape(m) for m in re.findall(r"<mark[^>]*>(.*?)</mark>", page, flags=re.S))
    assert re.sub(r"\s+", "", marked) == re.sub(r"\s+", "", document.text[c.start : c.end])
    assert 'href="#passage"' in page


def test_source_page_renders_headings_paragraphs_and_bullets(client, web_assistant):
    doc_id = next(d.doc_id for d in web_assistant.index.documents.values()
                  if {"heading", "paragraph", "bullet"} <= {b.kind for b in d.clean.blocks})
    page = visible(client.get(f"/documents/{doc_id}").text)
    assert "<h2>" in page and "<p>" in page and '<ul class="bullets">' in page and "<li>" in page
    assert "<mark" not in page


def test_any_span_can_be_linked(client, web_assistant):
    document = next(iter(web_assistant.index.documents.values()))
    page = visible(client.get(f"/documents/{document.doc_id}?start=0&end=20#passage").text)
    assert '<mark id="passage">' in page


@pytest.mark.parametrize("query", ["start=abc&end=10", "start=10&end=5", "start=-5&end=10", "start=0&end=99999999"])
def test_bad_span_still_shows_the_source(client, web_assistant, query):
    doc_id = next(iter(web_assistant.index.documents))
    response = client.get(f"/documents/{doc_id}?{query}")
    assert response.status_code == 200
    assert "<mark" not in response.text
    assert "no passage is highlighted" in response.text


def test_unknown_source_page_is_a_404_page(client):
    response = client.get("/documents/<img src=x onerror=alert(1)>")
    assert response.status_code == 404
    assert "No such document" in response.text
    assert "<img src=x" not in response.text


@pytest.mark.parametrize("path", ["/", "/?q=hiv", "/documents/nope", "/static/app.js", "/static/style.css"])
def test_pages_carry_a_strict_content_security_policy(client, path):
    headers = client.get(path).headers
    policy = dict(part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";"))
    assert policy["script-src"] == "'self'"
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_templates_have_no_inline_script_or_style(client, web_assistant):
    doc_id = next(iter(web_assistant.index.documents))
    for path in ["/", f"/?q={QUESTION}", f"/documents/{doc_id}?start=0&end=10"]:
        page = client.get(path).text
        scripts = [s for s in re.findall(r"<script[^>]*>", page) if s != '<script type="application/json" id="page-data">']
        assert scripts == ['<script src="/static/app.js" defer>']
        # The only other one is data, which no browser runs (type application/json).
        assert page.count("<script") <= 2
        assert " style=" not in page and "<style" not in page and " on" + "click=" not in page


def test_static_files_are_served(client):
    assert client.get("/static/app.js").headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/nope.js").status_code == 404


def test_javascript_never_writes_html():
    from assistant.api.routers.pages import WEB_DIR

    script = (WEB_DIR / "static" / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script


def test_a_refusal_names_the_missing_part_and_a_partial_answer_says_so_in_the_readers_language(client, web_assistant):
    question = "what is the penalty for pimping under the new law"
    refused = web_assistant.ask(question)
    assert refused.abstained and refused.missing == "penalty"
    page = visible(client.get("/", params={"q": question, "lang": "ru"}).text)
    notice = re.search(r'<p class="abstained">(.*?)</p>', page, flags=re.S).group(1)
    assert "(в документах говорится об этом, но ни наказания, ни срока нет)" in notice
    assert 'class="partial"' not in page  # a refusal says it once, as its reason
    # The same answer given, not refused: the note sits above the passages.
    partial = Answer.model_validate(refused.model_dump() | {"abstained": False, "abstain_reason": None,
                                                          "missing_note": partly_answered(PARTS_BY_NAME["penalty"])})
    with TestClient(create_app(_Fixed(web_assistant, partial))) as fixed:
        raw = fixed.get("/", params={"q": question, "lang": "kk"}).text
        page = visible(raw)
        note = re.search(r'<p class="partial">(.*?)</p>', page).group(1)
        assert note == "Жауап толық емес: құжаттарда бұл туралы айтылады, бірақ жаза да, мерзім де көрсетілмеген."
        assert page.index('class="partial"') < page.index('<li class="card"')
        # The script that redraws the answer gets the note in the page's language too.
        data = json.loads(re.search(r'<script type="application/json" id="page-data">(.*?)</script>', raw, re.S).group(1))
        assert data["answer"]["missing_note"] == note
        response = fixed.post("/api/ask", json={"question": question}, headers={"Accept-Language": "ru"})
        assert response.json()["missing_note"].startswith("Ответ неполный: в документах говорится об этом")
