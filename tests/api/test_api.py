"""The HTTP API through FastAPI's TestClient, on a real index and model: every route, every bad input."""

from __future__ import annotations

import logging
import re

import pytest

QUESTION = "Where can a migrant without propiska get an HIV test?"
JSON = {"content-type": "application/json"}


def test_healthz(client, web_assistant):
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["documents"] == len(web_assistant.index.documents)
    assert body["passages"] == len(web_assistant.index.passages)
    assert body["model"]


def test_ask_returns_the_answer_object(client, web_assistant):
    response = client.post("/api/ask", json={"question": f"  {QUESTION}  ", "k": 3})
    assert response.status_code == 200
    answer = response.json()
    assert {"question", "abstained", "abstain_reason", "sources_span", "results", "language", "time_focus",
            "timeline"} <= set(answer)
    assert answer["question"] == QUESTION and answer["language"] == "en"
    assert [r["rank"] for r in answer["results"]] == [1, 2, 3]
    for result in answer["results"]:
        assert {"rank", "score", "text", "highlight", "citation", "also_in", "recency"} <= set(result)
        citation, highlight = result["citation"], result["highlight"]
        served = client.get(f"/api/documents/{citation['doc_id']}").json()["text"]
        assert served[citation["start"] : citation["end"]] == result["text"]
        assert 0 <= highlight["start"] < highlight["end"] <= len(result["text"])
        assert {"doc_id", "title", "publisher", "date", "url", "start", "end", "year", "year_label"} <= set(citation)


def test_ask_defaults_to_five_passages(client):
    assert len(client.post("/api/ask", json={"question": QUESTION}).json()["results"]) == 5


def test_ask_accepts_the_limits(client):
    assert client.post("/api/ask", json={"question": "x" * 1000, "k": 1}).status_code == 200
    assert len(client.post("/api/ask", json={"question": QUESTION, "k": 50}).json()["results"]) >= 5
    assert client.post("/api/ask", json={"question": "line one\nline\ttwo"}).status_code == 200


def test_ask_abstains_off_topic(client):
    answer = client.post("/api/ask", json={"question": "what is the best recipe for chocolate cake"}).json()
    assert answer["abstained"] is True


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"question": ""}, 422, "empty"),
        ({"question": " \n\t "}, 422, "empty"),
        ({"question": "x" * 1001}, 422, "1001 characters"),
        ({"question": " " * 50 + "x" * 1001}, 422, "limit is 1000"),
        ({"question": "a\x00b"}, 422, "control characters"),
        ({"question": "a\x1bb"}, 422, "control characters"),
        ({"question": "a\x7fb"}, 422, "control characters"),
        ({}, 422, "question: Field required"),
        ({"k": 3}, 422, "question"),
        ({"question": 42}, 422, "question: Input should be a valid string"),
        ({"question": None}, 422, "question"),
        ({"question": ["a"]}, 422, "question"),
        ({"question": QUESTION, "k": 0}, 422, "k"),
        ({"question": QUESTION, "k": -1}, 422, "k"),
        ({"question": QUESTION, "k": 51}, 422, "k must be a whole number from 1 to 50"),
        ({"question": QUESTION, "k": 10**30}, 422, "k"),
        ({"question": QUESTION, "k": "5"}, 422, "k: Input should be a valid integer"),
        ({"question": QUESTION, "k": 2.5}, 422, "k"),
        ({"question": QUESTION, "k": True}, 422, "k"),
        ({"question": QUESTION, "k": None}, 422, "k"),
    ],
)
def test_ask_refuses_bad_input(client, body, status, says):
    response = client.post("/api/ask", json=body)
    assert response.status_code == status
    assert set(response.json()) == {"error"}
    assert says in response.json()["error"]


@pytest.mark.parametrize(
    ("content", "headers", "statuses"),
    [
        (b"{bad json", JSON, {400}),
        (b'{"question": "x",}', JSON, {400}),
        (b"\xff\xfe\x00", JSON, {400}),
        (b"[" * 60_000, JSON, {400, 422}),  # deep nesting within the body limit
        (b"", JSON, {400, 422}),
        (b"null", JSON, {422}),
        (b'["question"]', JSON, {422}),
        (b'"just a string"', JSON, {422}),
        (b'{"question": "x"}', {"content-type": "text/plain"}, {400, 422}),
        (b"question=x", {"content-type": "application/x-www-form-urlencoded"}, {400, 422}),
        (b'{"question": "a\\ud800b"}', JSON, {422}),
    ],
)
def test_ask_refuses_malformed_bodies(client, content, headers, statuses):
    response = client.post("/api/ask", content=content, headers=headers)
    assert response.status_code in statuses
    assert response.json()["error"]


def test_wrong_method_is_a_json_405(client):
    response = client.get("/api/ask")
    assert response.status_code == 405
    assert "error" in response.json()


def test_documents_lists_every_document(client, web_assistant):
    listing = client.get("/api/documents").json()
    assert {d["doc_id"] for d in listing} == set(web_assistant.index.documents)
    for doc in listing:
        assert {"doc_id", "title", "publisher", "date", "date_note", "year", "url", "language", "passages"} <= set(doc)
        assert doc["passages"] > 0
        assert "text" not in doc


def test_document_serves_text_and_metadata(client, web_assistant):
    doc_id = next(iter(web_assistant.index.documents))
    body = client.get(f"/api/documents/{doc_id}").json()
    assert body["doc_id"] == doc_id
    assert body["text"] == web_assistant.index.documents[doc_id].text
    assert body["title"] == web_assistant.index.documents[doc_id].metadata.title


@pytest.mark.parametrize("doc_id", ["nope", "..%2F..%2Fetc%2Fpasswd", "%00", "<script>", "x" * 5000])
def test_unknown_document_is_404(client, doc_id):
    response = client.get(f"/api/documents/{doc_id}")
    assert response.status_code == 404
    assert response.json()["error"]


def test_unknown_path_is_a_json_404(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found"}


def test_openapi_describes_real_shapes(client):
    spec = client.get("/openapi.json").json()
    ask = spec["paths"]["/api/ask"]["post"]
    request = ask["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(spec["components"]["schemas"][request]["properties"]) == {"question", "k", "doc_ids", "year_from", "year_to", "language"}
    answer = ask["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"question", "abstained", "abstain_reason", "sources_span", "results", "language"} <= set(
        spec["components"]["schemas"][answer]["properties"])
    assert "422" in ask["responses"] and "400" in ask["responses"]
    assert {"/healthz", "/api/documents", "/api/documents/{doc_id}"} <= set(spec["paths"])


def test_docs_page_is_served_from_this_machine_only(client):
    response = client.get("/docs")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "http" not in policy
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    page = response.text
    assert "<script>" not in page and "<style" not in page and "cdn" not in page.lower()
    for asset in re.findall(r'(?:src|href)="(/[^"]+)"', page):
        assert client.get(asset).status_code == 200, asset


@pytest.mark.parametrize("path", ["/healthz", "/api/documents", "/api/nothing-here", "/docs"])
def test_security_headers_on_every_response(client, path):
    headers = client.get(path).headers
    assert "script-src" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_api_responses_are_not_cached(client):
    assert client.post("/api/ask", json={"question": QUESTION, "k": 1}).headers["cache-control"] == "no-store"


def test_questions_stay_out_of_the_logs(client, caplog):
    """The test client (httpx) logs its own URLs; only the server's records count."""
    secret = "where can I get tested without documents"
    with caplog.at_level(logging.DEBUG):
        client.post("/api/ask", json={"question": secret, "k": 1})
        client.get("/", params={"q": secret})
    server_side = [r for r in caplog.records if not r.name.startswith("httpx")]
    assert not [r for r in server_side if "without" in r.getMessage()]
    access = [r.getMessage() for r in server_side if r.name == "assistant.access"]
    assert any(line.startswith("POST /api/ask 200") for line in access)
    assert any(line.startswith("GET / 200") for line in access)


def test_slow_question_does_not_block_other_requests(client, web_assistant, monkeypatch):
    """The model runs in a thread pool: /healthz answers while an ask is still in flight."""
    import threading
    import time

    started, release = threading.Event(), threading.Event()
    original = web_assistant.ask

    def slow_ask(question, k=None, **filters):
        started.set()
        release.wait(10)
        return original(question, k, **filters)

    monkeypatch.setattr(web_assistant, "ask", slow_ask)
    result = {}
    worker = threading.Thread(target=lambda: result.update(r=client.post("/api/ask", json={"question": QUESTION, "k": 1})))
    worker.start()
    assert started.wait(10)
    began = time.monotonic()
    assert client.get("/healthz").status_code == 200
    assert time.monotonic() - began < 2
    release.set()
    worker.join(30)
    assert result["r"].status_code == 200


def test_filters_narrow_the_answer_inside_the_search(client, web_assistant):
    question = "What does the law say about sex work?"
    wide = client.post("/api/ask", json={"question": question, "k": 10}).json()
    assert len({r["citation"]["doc_id"] for r in wide["results"]}) > 1
    one = client.post("/api/ask", json={"question": question, "k": 10, "doc_ids": ["nswp-2015-amelia-report-sex-work"]}).json()
    assert one["results"] and {r["citation"]["doc_id"] for r in one["results"]} == {"nswp-2015-amelia-report-sex-work"}
    recent = client.post("/api/ask", json={"question": question, "year_from": 2024}).json()
    assert recent["results"] and all(r["citation"]["year"] >= 2024 for r in recent["results"])
    old = client.post("/api/ask", json={"question": question, "year_to": 2015}).json()
    assert all(r["citation"]["year"] and r["citation"]["year"] <= 2015 for r in old["results"])
    english = client.post("/api/ask", json={"question": question, "language": "en"}).json()
    assert english["results"]
    none = client.post("/api/ask", json={"question": question, "language": "kk"}).json()
    assert none["abstained"] and none["abstain_reason"] == "no document matches the filters" and not none["results"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"doc_ids": "eatg"}, "doc_ids"),
        ({"year_from": "2020"}, "year_from"),
        ({"year_to": 99999}, "year_to must be a year"),
        ({"language": "de"}, "language must be one of en, ru, kk"),
    ],
)
def test_bad_filters_are_refused(client, body, says):
    response = client.post("/api/ask", json={"question": QUESTION, **body})
    assert response.status_code == 422 and says in response.json()["error"]


def test_an_unknown_document_is_a_404_and_an_empty_year_range_matches_nothing(client):
    """What the schema cannot state (which ids exist; one field against another) is not a 422."""
    unknown = client.post("/api/ask", json={"question": QUESTION, "doc_ids": ["nope"]})
    assert unknown.status_code == 404 and "no document with id 'nope'" in unknown.json()["error"]
    empty = client.post("/api/ask", json={"question": QUESTION, "year_from": 2020, "year_to": 2010})
    assert empty.status_code == 200
    assert empty.json()["abstained"] and empty.json()["abstain_reason"] == "no document matches the filters"
