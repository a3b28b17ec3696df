"""The HTML pages without JavaScript, through TestClient: what any browser gets from the server."""

from __future__ import annotations

import html
import re

import pytest
from markupsafe import escape
from conftest_web import client, web_assistant  # noqa: F401

from assistant.web import citation_text, source_link

QUESTION = "Where can a migrant without propiska get an HIV test?"


def esc(text: str) -> str:
    return str(escape(text))


def cards(page: str) -> list[str]:
    return re.findall(r'<li class="card">(.*?)</li>', page, flags=re.S)


def test_first_visit_shows_the_collection_and_examples(client, web_assistant):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    for document in web_assistant.index.documents.values():
        assert esc(document.metadata.title) in page
        assert f'href="/documents/{document.doc_id}"' in page
        assert (str(document.metadata.year) if document.metadata.year else "n.d.") in page
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
    page = response.text
    answer = web_assistant.ask(QUESTION)
    found = cards(page)
    assert len(found) == len(answer.results)
    for card, result in zip(found, answer.results):
        c = result.citation
        assert card.count("<mark>") == 1
        assert f'href="{esc(source_link(c.doc_id, c.start, c.end))}"' in card
        assert f"[{result.rank}] {esc(c.title)}" in card
        assert (str(c.year) if c.year else "n.d.") in card
        assert f'data-citation="{esc(citation_text(c))}"' in card
    assert esc(QUESTION) in page
    assert "These documents do not seem to cover this." not in page


def test_highlight_is_the_marked_part_of_the_passage(client, web_assistant):
    answer = web_assistant.ask(QUESTION, 1)
    result = answer.results[0]
    card = cards(client.get("/", params={"q": QUESTION, "k": "1"}).text)[0]
    marked = re.search(r"<mark>(.*?)</mark>", card, flags=re.S).group(1)
    assert html.unescape(marked) == result.text[result.highlight.start : result.highlight.end]


def test_abstaining_says_so_above_the_nearest_passages(client):
    page = client.get("/", params={"q": "what is the best recipe for chocolate cake"}).text
    notice = page.index("These documents do not seem to cover this.")
    assert notice < page.index("Nearest passages") < page.index('<li class="card">')


def test_question_with_markup_is_escaped(client):
    question = '<script>alert("x")</script> <img src=x onerror=alert(1)> sex work law'
    page = client.get("/", params={"q": question}).text
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
    page = response.text
    document = web_assistant.index.documents[c.doc_id]
    assert f"<h1>{esc(document.metadata.title)}</h1>" in page
    assert page.count('id="passage"') == 1
    marked = "".join(html.unescape(m) for m in re.findall(r"<mark[^>]*>(.*?)</mark>", page, flags=re.S))
    assert re.sub(r"\s+", "", marked) == re.sub(r"\s+", "", document.text[c.start : c.end])
    assert 'href="#passage"' in page


def test_source_page_renders_headings_paragraphs_and_bullets(client, web_assistant):
    doc_id = next(d.doc_id for d in web_assistant.index.documents.values()
                  if {"heading", "paragraph", "bullet"} <= {b.kind for b in d.clean.blocks})
    page = client.get(f"/documents/{doc_id}").text
    assert "<h2>" in page and "<p>" in page and '<ul class="bullets">' in page and "<li>" in page
    assert "<mark" not in page


def test_any_span_can_be_linked(client, web_assistant):
    document = next(iter(web_assistant.index.documents.values()))
    page = client.get(f"/documents/{document.doc_id}?start=0&end=20#passage").text
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
        assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/app.js" defer>']
        assert " style=" not in page and "<style" not in page and " on" + "click=" not in page


def test_static_files_are_served(client):
    assert client.get("/static/app.js").headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/nope.js").status_code == 404


def test_javascript_never_writes_html():
    from assistant.web import WEB_DIR

    script = (WEB_DIR / "static" / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
