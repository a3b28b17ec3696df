"""The chat page's features without JavaScript, through TestClient on real indexes: filters in the
address, private feedback (off by default; on, a real SQLite file and `assistant feedback export`),
PDF pages on source pages and in citations, and the small things (h1, the question kept, the hint)."""

from __future__ import annotations

import html
import re
import sqlite3

import pytest
from conftest import REPO
from doc_fixtures import PDF_PAGE_OF, make_pdf
from fastapi.testclient import TestClient

from assistant.api import create_app
from assistant.cli import main
from assistant.evaluate.gold import is_hit, load_gold
from assistant.query.assistant import Assistant
from assistant.settings import Settings
from assistant.store.build import build_index

QUESTION = "Is sex work legal in Kazakhstan?"


def cards(page: str) -> list[str]:
    return re.findall(r'<li class="card"[^>]*>(.*?)</li>', page, flags=re.S)


def cited_ids(page: str) -> set[str]:
    return {m for card in cards(page) for m in re.findall(r'class="cite-link" href="/documents/([^?]+)\?', card)}


# Filters ----------------------------------------------------------------------------------------


def test_filters_in_the_address_narrow_the_answer(client, web_assistant):
    documents = web_assistant.index.documents
    everything = cited_ids(client.get("/", params={"q": QUESTION}).text)
    assert len(everything) > 1
    only = sorted(everything)[0]
    page = client.get("/", params={"q": QUESTION, "doc_ids": only}).text
    assert cited_ids(page) == {only}
    assert f'value="{only}" checked' in page and "<details class=\"filters\" id=\"filters\" open>" in page
    recent = client.get("/", params={"q": QUESTION, "year_from": "2020"}).text
    assert cited_ids(recent) and all((documents[d].metadata.year or 0) >= 2020 for d in cited_ids(recent))
    old = client.get("/", params={"q": QUESTION, "year_to": "2015", "k": "3"}).text
    assert cited_ids(old) and all((documents[d].metadata.year or 9999) <= 2015 for d in cited_ids(old))
    assert len(cards(old)) == 3
    none = client.get("/", params={"q": QUESTION, "language": "kk"}).text
    assert "no document matches the filters" in none


def test_no_filter_leaves_the_filters_closed(client):
    page = client.get("/", params={"q": QUESTION, "year_from": "", "year_to": "", "language": ""}).text
    assert '<details class="filters" id="filters">' in page and cards(page)


@pytest.mark.parametrize(("params", "says"), [
    ({"year_from": "soon"}, "year_from must be a year such as 2015"),
    ({"year_to": "99999"}, "year_to must be a year such as 2015"),
    ({"doc_ids": "nope"}, "no document with id 'nope'"),
    ({"language": "de"}, "language must be one of en, ru, kk"),
])
def test_bad_filters_are_a_readable_422_page(client, params, says):
    response = client.get("/", params={"q": QUESTION, **params})
    assert response.status_code == 422
    assert says in html.unescape(response.text) and 'role="alert"' in response.text
    russian = client.get("/", params={"q": QUESTION, "lang": "ru", **params})
    assert russian.status_code == 422 and says not in html.unescape(russian.text.split('id="page-data"')[0])


# The small things -------------------------------------------------------------------------------


def test_answer_page_has_an_h1_keeps_the_question_and_hints_right(client):
    page = client.get("/", params={"q": QUESTION}).text
    # The answer takes the screen: the page's heading is there for screen readers only.
    assert page.count("<h1") == 1 and '<h1 id="page-heading" class="visually-hidden">Ask the documents</h1>' in page
    assert re.search(r'<textarea id="question" name="q"[^>]*>Is sex work legal in Kazakhstan\?</textarea>', page)
    hint = re.search(r'<p id="ask-hint" class="hint">(.*?)</p>', page).group(1)
    assert hint == "Press Ask to send; Enter starts a new line." and "Enter sends" not in hint
    for path in ["/", "/documents/nope"]:
        assert client.get(path).text.count("<h1") == 1


@pytest.mark.parametrize("posted", [False, True])
def test_a_long_question_or_a_made_up_document_is_not_repeated_through_the_page(client, web_assistant, posted):
    """Before (issue 28): a 20,000-character question came back 5 times (a 125 KB page), a
    5,000-character document id 3 times. Now the page keeps at most the first 1,000 characters
    (the form, the heading, the three language links), and the error names the id once, cut short."""
    def page(**fields):
        response = client.post("/", data=fields) if posted else client.get("/", params=fields)
        assert response.status_code == 422 and 'role="alert"' in response.text
        assert len(response.text) < 40_000, len(response.text)
        return response.text

    long_question = page(q="Z" * 20_000, doc_ids="Y" * 5_000)
    limit = web_assistant.settings.max_question_chars
    assert "Z" * (limit + 1) not in long_question and long_question.count("Z" * limit) <= 5
    assert "Y" * 81 not in long_question
    made_up = page(q=QUESTION, doc_ids="Y" * 5_000)
    assert made_up.count("Y" * 80) == 1 and "Y" * 81 not in made_up and "no document with id" in made_up
    links = re.findall(r'<a href="(/\?[^"]*lang=[^"]*)"', long_question)
    assert len(links) == 3  # the language switch
    # The private mode's posted question stays out of every address; a question asked by address keeps it.
    assert all(("q=" in link) is not posted for link in links), links


# Feedback ---------------------------------------------------------------------------------------


def judgement(web_assistant, verdict: str = "answers", question: str = QUESTION) -> dict:
    result = web_assistant.ask(question).results[0]
    c, h = result.citation, result.highlight
    return {"question": question, "question_language": "en", "doc_id": c.doc_id, "start": c.start, "end": c.end,
            "highlight": result.text[h.start : h.end], "verdict": verdict}


def test_feedback_is_off_by_default_no_buttons_and_the_route_refuses(client, web_assistant, tmp_path):
    assert Settings().feedback is False
    page = client.get("/", params={"q": QUESTION}).text
    assert "data-verdict" not in page.split('id="page-data"')[0]
    assert '"feedback": false' in page
    response = client.post("/api/feedback", json=judgement(web_assistant))
    assert response.status_code == 404 and "turned off" in response.json()["error"]


@pytest.fixture
def feedback_client(web_assistant, tmp_path):
    settings = web_assistant.settings.model_copy(update={"feedback": True, "feedback_file": tmp_path / "fb" / "feedback.db"})
    assistant = Assistant(web_assistant.index, web_assistant.embedders, settings)
    with TestClient(create_app(assistant)) as test_client:
        yield test_client, settings.feedback_file


def test_feedback_on_keeps_verdicts_in_sqlite_and_exports_gold_lines(feedback_client, web_assistant, tmp_path,
                                                                     monkeypatch, capsys):
    client, path = feedback_client
    page = client.get("/", params={"q": QUESTION}).text
    assert page.count('data-verdict="answers"') == len(cards(page)) and '"feedback": true' in page
    assert "The feedback buttons save the question and passage on the server of this service." in page
    good = judgement(web_assistant)
    assert client.post("/api/feedback", json={**good, "verdict": "wrong"}).json() == {"saved": True}
    assert client.post("/api/feedback", json=good).json() == {"saved": True}  # changed their mind: one row
    other = judgement(web_assistant, question="Кто подписал закон о противодействии торговле людьми?")
    assert client.post("/api/feedback", json={**other, "question_language": None}).status_code == 200
    wrong = judgement(web_assistant, "wrong", "Where can a migrant without propiska get an HIV test?")
    assert client.post("/api/feedback", json=wrong).status_code == 200
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT question, question_language, doc_id, verdict FROM judgements ORDER BY id").fetchall()
    assert rows == [(QUESTION, "en", good["doc_id"], "answers"), (other["question"], "ru", other["doc_id"], "answers"),
                    (wrong["question"], "en", wrong["doc_id"], "wrong")]

    monkeypatch.setenv("ASSISTANT_FEEDBACK_FILE", str(path))
    out = tmp_path / "new-gold.jsonl"
    assert main(["feedback", "export", "--out", str(out), "--split", "test"]) == 0
    assert "2 gold lines" in capsys.readouterr().err
    gold = load_gold(out)
    assert [(q.question, q.lang, q.split, q.out_of_scope) for q in gold] == [
        (QUESTION, "en", "test", False), (other["question"], "ru", "test", False)]
    for line, sent in zip(gold, [good, other]):
        assert line.doc == sent["doc_id"] and line.id.startswith("fb-")
        passage = web_assistant.index.documents[sent["doc_id"]].text[sent["start"] : sent["end"]]
        assert is_hit(passage, line.answers)
    assert main(["feedback", "export"]) == 0
    assert capsys.readouterr().out == out.read_text(encoding="utf-8").replace('"split": "test"', '"split": "dev"')


@pytest.mark.parametrize(("change", "status"), [
    ({"verdict": "maybe"}, 422), ({"highlight": "words that are not in the passage"}, 422), ({"doc_id": "nope"}, 422),
    ({"end": 10**9}, 422), ({"start": -1}, 422), ({"question": "  "}, 422), ({"question": "x" * 3000}, 422),
    ({"highlight": "x" * 6000}, 422), ({"start": "1"}, 422), ({"extra": "ignored"}, 200),
])
def test_feedback_bodies_are_small_and_checked(feedback_client, web_assistant, change, status):
    client, path = feedback_client
    response = client.post("/api/feedback", json={**judgement(web_assistant), **change})
    assert response.status_code == status, response.text
    assert set(response.json()) == ({"saved"} if status == 200 else {"error"})


def bounded_client(web_assistant, tmp_path, **bounds):
    settings = web_assistant.settings.model_copy(update={"feedback": True, "feedback_file": tmp_path / "feedback.db",
                                                          **bounds})
    return TestClient(create_app(Assistant(web_assistant.index, web_assistant.embedders, settings)))


def test_feedback_from_one_client_is_rate_limited_with_retry_after(web_assistant, tmp_path):
    """Before (issue 28): 325 rows a second from one client, all kept."""
    good = judgement(web_assistant)
    with bounded_client(web_assistant, tmp_path, feedback_per_minute=3) as client:
        statuses = [client.post("/api/feedback", json={**good, "question": f"{QUESTION} {n}"}).status_code
                    for n in range(5)]
        refused = client.post("/api/feedback", json=good)
    assert statuses == [200, 200, 200, 429, 429]
    assert refused.status_code == 429 and 0 < int(refused.headers["retry-after"]) <= 60
    assert "too many judgements" in refused.json()["error"]
    with sqlite3.connect(tmp_path / "feedback.db") as db:
        assert db.execute("SELECT COUNT(*) FROM judgements").fetchone() == (3,)


def test_a_full_feedback_store_refuses_new_judgements_but_takes_changed_verdicts(web_assistant, tmp_path):
    good = judgement(web_assistant)
    with bounded_client(web_assistant, tmp_path, feedback_max_judgements=2) as client:
        assert [client.post("/api/feedback", json={**good, "question": f"{QUESTION} {n}"}).status_code
                for n in range(3)] == [200, 200, 507]
        assert client.post("/api/feedback", json={**good, "question": f"{QUESTION} 0", "verdict": "wrong"}).status_code == 200
        full = client.post("/api/feedback", json=good)
    assert full.status_code == 507 and "feedback purge" in full.json()["error"]


def test_the_feedback_schema_states_the_question_limits_the_server_enforces(client, web_assistant):
    """Before (issue 28): the schema took an empty question that the server then refused."""
    fields = client.get("/openapi.json").json()["components"]["schemas"]["FeedbackRequest"]["properties"]
    question = fields["question"]
    assert question["minLength"] == 1 and question["maxLength"] == web_assistant.settings.max_question_chars
    for refused in ("", "   ", "\n\t "):
        assert re.search(question["pattern"], refused) is None
    assert re.search(question["pattern"], QUESTION)


def test_feedback_export_without_a_file_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ASSISTANT_FEEDBACK_FILE", str(tmp_path / "none.db"))
    assert main(["feedback", "export"]) == 2
    assert capsys.readouterr().err.startswith("error: no feedback yet")


# PDF pages --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdf_client(tmp_path_factory, embedders):
    folder = tmp_path_factory.mktemp("pdf-web")
    corpus = folder / "corpus"
    corpus.mkdir()
    make_pdf(corpus / "field-report.pdf")
    (corpus / "field-report.toml").write_text('title = "Outreach in Almaty: field report"\ndate = "2023"\n')
    settings = Settings(corpus_dir=corpus, index_dir=folder / "index")
    assistant = Assistant(build_index(settings, embedders, progress=False), embedders, settings)
    with TestClient(create_app(assistant)) as test_client:
        yield test_client, assistant


def test_pdf_source_page_shows_where_each_page_starts(pdf_client):
    client, assistant = pdf_client
    document = assistant.index.documents["field-report"]
    assert len(document.pages) == 3
    page = client.get("/documents/field-report").text
    assert re.findall(r'<p class="page-marker" id="page-(\d)" lang="en"><span>Page (\d)</span></p>', page) == [
        ("1", "1"), ("2", "2"), ("3", "3")]
    for sentence, number in PDF_PAGE_OF.items():
        marker = page.index(f'id="page-{number}"')
        assert marker < page.index(sentence)
        if number < 3:
            assert page.index(sentence) < page.index(f'id="page-{number + 1}"')
    kazakh = client.get("/documents/field-report", params={"lang": "kk"}).text
    assert '<span>2-бет</span>' in kazakh and "<dt>Беттер саны</dt><dd>3</dd>" in kazakh


def test_citations_give_the_page_in_the_chat_view(pdf_client):
    client, assistant = pdf_client
    question = "Where were migrants without propiska tested?"
    result = assistant.ask(question).results[0]
    assert result.citation.page == 2
    page = client.get("/", params={"q": question}).text
    assert re.search(r'class="cite-link" href="[^"]+">\[1\] Outreach in Almaty: field report, 2023 · p\. 2</a>', page)
    russian = client.get("/", params={"q": question, "lang": "ru"}).text
    assert "2023 · с. 2</a>" in russian
    link = re.search(r'class="cite-link" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    source = client.get(link).text
    assert "(page 2, highlighted)" in source


def test_feedback_file_default_is_outside_git(tmp_path):
    assert Settings().feedback_file.name == "feedback.db"
    gitignore = (REPO / ".gitignore").read_text()
    assert "/feedback.db" in gitignore


# Private mode (on by default) -------------------------------------------------------------------


def title(page: str) -> str:
    return re.search(r"<title>(.*?)</title>", page, flags=re.S).group(1)


def test_private_mode_posts_the_question_and_keeps_it_out_of_the_title(client, web_assistant):
    assert Settings().private_mode is True
    page = client.get("/").text
    form = re.search(r'<form id="ask-form"[^>]*>', page).group(0)
    assert 'method="post"' in form and 'autocomplete="off"' in form
    # Without JS the form posts: the answer comes back with the question nowhere in the title.
    assert 'action="/"' in form and 'action="/?lang=ru"' in client.get("/", params={"lang": "ru"}).text
    posted = client.post("/?lang=ru", content=f"q={QUESTION}", headers={"content-type": "application/x-www-form-urlencoded"})
    assert posted.status_code == 200 and QUESTION not in title(posted.text)
    assert cards(posted.text) and html.escape(QUESTION) in posted.text.split('id="page-data"')[0]
    assert '<html lang="ru">' in posted.text
    expected = web_assistant.ask(QUESTION).results[0].citation
    assert f"start={expected.start}&amp;end={expected.end}" in cards(posted.text)[0]
    # A shared link (GET) is answered too, still without the question in the title.
    assert QUESTION not in title(client.get("/", params={"q": QUESTION}).text)
    # An oversized body is refused before it is read; a question over the limit gets the page's error.
    huge = client.post("/", content=b"q=" + b"a" * 70_000, headers={"content-type": "application/x-www-form-urlencoded"})
    assert huge.status_code == 413
    long = client.post("/", content=b"q=" + b"a " * 2_000, headers={"content-type": "application/x-www-form-urlencoded"})
    assert long.status_code == 422 and 'class="error"' in long.text
    # An empty posted question is the chat page, and broken form encoding is not an error.
    assert client.post("/", content=b"q=%ff%fe", headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 200


def test_public_mode_has_the_question_in_the_address_and_title(web_assistant):
    settings = web_assistant.settings.model_copy(update={"private_mode": False})
    with TestClient(create_app(Assistant(web_assistant.index, web_assistant.embedders, settings))) as public:
        page = public.get("/", params={"q": QUESTION}).text
    assert title(page).startswith(QUESTION)
    assert 'method="get"' in re.search(r'<form id="ask-form"[^>]*>', page).group(0)
    assert "each one is in this page&#39;s address" in page


@pytest.mark.parametrize("lang, leave, privacy", [
    ("en", "Leave quickly", "your questions are not kept on the server or in this browser"),
    ("ru", "Быстро уйти", "ваши вопросы не хранятся ни на сервере, ни в этом браузере"),
    ("kk", "Тез кету", "сұрақтарыңыз серверде де, осы браузерде де сақталмайды"),
])
def test_every_page_can_be_left_quickly_and_says_what_is_kept(client, lang, leave, privacy):
    for path in ["/", "/documents/nope"]:
        page = client.get(path, params={"lang": lang}).text
        link = re.search(r'<a id="leave"[^>]*>(.*?)</a>', page, flags=re.S)
        assert link and link.group(1) == leave and 'href="about:blank"' in link.group(0)
    page = client.get("/", params={"lang": lang}).text
    assert privacy in re.search(r'<p id="privacy" class="privacy">(.*?)</p>', page).group(1)


def test_the_leave_page_is_the_operators_choice_and_only_a_web_address(web_assistant):
    with pytest.raises(ValueError):
        Settings(leave_url="javascript:alert(1)")
    settings = web_assistant.settings.model_copy(update={"leave_url": "https://example.org/weather"})
    with TestClient(create_app(Assistant(web_assistant.index, web_assistant.embedders, settings))) as other:
        assert 'data-href="https://example.org/weather"' in other.get("/").text
