"""The operator area's sign-in (issue 26, first part), through TestClient on the real index: absent
without an operator file; the password form with its anti-forgery value; the session cookie's
flags; CSRF on sign-out; bearer tokens for the JSON route; failed sign-ins slowed."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from assistant.api import create_app
from assistant.operator.credentials import create_token, set_password
from assistant.query.assistant import Assistant

PASSWORD = "correct horse battery staple"
ROUTES = [("get", "/operator"), ("get", "/operator/sign-in"), ("post", "/operator/sign-in"),
          ("post", "/operator/sign-out"), ("get", "/api/operator/documents")]


def app_with(web_assistant, operator_file, base_url: str = "http://testserver") -> TestClient:
    settings = web_assistant.settings.model_copy(update={
        "operator_file": operator_file, "operator_audit_file": operator_file.with_name("audit.jsonl")})
    return TestClient(create_app(Assistant(web_assistant.index, web_assistant.embedders, settings)),
                      base_url=base_url, follow_redirects=False)


@pytest.fixture(scope="module")
def operator_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("operator") / "operator.toml"
    set_password(path, PASSWORD)
    return path


def sign_in(client: TestClient, password: str = PASSWORD):
    form = client.get("/operator/sign-in")
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text).group(1)
    return client.post("/operator/sign-in", data={"nonce": nonce, "password": password})


def test_without_an_operator_file_the_routes_do_not_exist(web_assistant, tmp_path):
    with app_with(web_assistant, tmp_path / "absent.toml") as client:
        for method, path in ROUTES:
            assert getattr(client, method)(path).status_code == 404, path


def test_not_signed_in_is_sent_to_sign_in_or_refused(web_assistant, operator_file):
    with app_with(web_assistant, operator_file) as client:
        page = client.get("/operator")
        assert page.status_code == 303 and page.headers["location"] == "/operator/sign-in"
        refused = client.get("/api/operator/documents")
        assert refused.status_code == 401 and "sign in" in refused.json()["error"]
        assert client.get("/api/operator/documents", headers={"authorization": "Bearer forged"}).status_code == 401
        # The asking page stays open to everyone.
        assert client.get("/").status_code == 200


def test_sign_in_sets_a_strict_http_only_cookie_and_lists_the_collection(web_assistant, operator_file):
    with app_with(web_assistant, operator_file) as client:
        signed = sign_in(client)
        assert signed.status_code == 303 and signed.headers["location"] == "/operator"
        cookie = next(v for k, v in signed.headers.multi_items() if k == "set-cookie" and v.startswith("operator_session="))
        flags = cookie.lower()
        assert "httponly" in flags and "samesite=strict" in flags and "max-age=7200" in flags and "secure" not in flags
        page = client.get("/operator")
        assert page.status_code == 200
        for document in web_assistant.index.documents.values():
            assert document.metadata.title in html.unescape(page.text)
        listed = client.get("/api/operator/documents").json()
        assert {row["doc_id"] for row in listed} == set(web_assistant.index.documents)
        assert all(row["passages"] > 0 for row in listed)


def test_the_cookie_is_secure_over_https(web_assistant, operator_file):
    with app_with(web_assistant, operator_file, base_url="https://testserver") as client:
        cookie = next(v for k, v in sign_in(client).headers.multi_items()
                      if k == "set-cookie" and v.startswith("operator_session="))
        assert "secure" in cookie.lower()


def test_sign_in_needs_the_forms_own_value(web_assistant, operator_file):
    with app_with(web_assistant, operator_file) as client:
        forged = client.post("/operator/sign-in", data={"nonce": "guess", "password": PASSWORD})
        assert forged.status_code == 403 and "operator_session" not in forged.headers.get("set-cookie", "")


def test_sign_out_needs_the_csrf_token_and_ends_the_session(web_assistant, operator_file):
    with app_with(web_assistant, operator_file) as client:
        sign_in(client)
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/operator").text).group(1)
        assert client.post("/operator/sign-out", data={"csrf": "forged"}).status_code == 403
        assert client.get("/operator").status_code == 200  # still signed in
        out = client.post("/operator/sign-out", data={"csrf": csrf})
        assert out.status_code == 303 and out.headers["location"] == "/operator/sign-in"
        assert client.get("/operator").status_code == 303
        assert client.get("/api/operator/documents").status_code == 401


def test_a_bearer_token_opens_the_json_route(web_assistant, tmp_path):
    path = tmp_path / "operator.toml"
    set_password(path, PASSWORD)
    token = create_token(path, "office uploads")
    with app_with(web_assistant, path) as client:
        listed = client.get("/api/operator/documents", headers={"authorization": f"Bearer {token}"})
        assert listed.status_code == 200 and len(listed.json()) == len(web_assistant.index.documents)
        # A token is not a browser session: the HTML page still asks for sign-in.
        assert client.get("/operator", headers={"authorization": f"Bearer {token}"}).status_code == 303


def test_failed_sign_ins_are_slowed_per_client(web_assistant, tmp_path):
    path = tmp_path / "operator.toml"
    set_password(path, PASSWORD)
    with app_with(web_assistant, path) as client:
        statuses = [sign_in(client, "wrong password!").status_code for _ in range(6)]
        assert statuses[:5] == [401] * 5
        slowed = sign_in(client, PASSWORD)  # even the right password waits its turn
        assert slowed.status_code == 429 and int(slowed.headers["retry-after"]) >= 1
        assert "operator_session" not in slowed.headers.get("set-cookie", "")


def test_a_damaged_operator_file_is_one_clear_error(web_assistant, tmp_path):
    path = tmp_path / "operator.toml"
    path.write_text("password_hash = " + "[" * 5_000)  # deep, but under the size limit
    with app_with(web_assistant, path) as client:
        response = client.get("/api/operator/documents")
        assert response.status_code == 503 and "not valid TOML" in response.json()["error"]


# Removing a document ----------------------------------------------------------------------------


@pytest.fixture
def small_collection(tmp_path, embedders):
    """Three one-line reports, indexed with the real models, served with an operator file."""
    from assistant.settings import Settings
    from assistant.store.build import build_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in [("alpha", "Outreach workers in Almaty hand out condoms and rapid HIV test kits."),
                       ("beta", "The shelter in Karaganda takes in survivors of trafficking for ninety days."),
                       ("gamma", "A lawyer answers questions about the 2024 law by telephone.")]:
        (corpus / f"{name}.txt").write_text(f"{name.title()} report\n\n{text}\n", encoding="utf-8")
        (corpus / f"{name}.toml").write_text(f'title = "{name.title()} report"\ndate = "2020"\n', encoding="utf-8")
    operator_file = tmp_path / "operator.toml"
    set_password(operator_file, PASSWORD)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", operator_file=operator_file,
                        operator_audit_file=tmp_path / "audit.jsonl")
    assistant = Assistant(build_index(settings, embedders, progress=False), embedders, settings)
    with TestClient(create_app(assistant), follow_redirects=False) as client:
        yield client, corpus, operator_file


def test_removing_from_the_page_asks_first_and_takes_the_document_out(small_collection):
    client, corpus, _ = small_collection
    assert client.get("/operator/documents/beta/remove").status_code == 303  # not signed in
    sign_in(client)
    confirm = client.get("/operator/documents/beta/remove")
    assert confirm.status_code == 200 and "Beta report" in confirm.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', confirm.text).group(1)
    assert client.post("/operator/documents/beta/remove", data={"csrf": "forged"}).status_code == 403
    assert {d["doc_id"] for d in client.get("/api/documents").json()} == {"alpha", "beta", "gamma"}
    done = client.post("/operator/documents/beta/remove", data={"csrf": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/operator"
    # The running service answers from the new collection at once, without a restart.
    assert {d["doc_id"] for d in client.get("/api/documents").json()} == {"alpha", "gamma"}
    assert not (corpus / "beta.txt").exists() and not (corpus / "beta.toml").exists()
    cited = {r["citation"]["doc_id"] for r in client.post("/api/ask", json={"question": "shelter in Karaganda"}).json()["results"]}
    assert "beta" not in cited
    assert "Beta report" not in client.get("/operator").text


def test_the_json_route_removes_with_a_token_or_a_session_and_its_csrf_token(small_collection):
    client, corpus, operator_file = small_collection
    token = create_token(operator_file, "script")
    assert client.delete("/api/operator/documents/alpha").status_code == 401
    assert client.delete("/api/operator/documents/nope", headers={"authorization": f"Bearer {token}"}).status_code == 404
    assert client.delete("/api/operator/documents/alpha", headers={"authorization": f"Bearer {token}"}).status_code == 204
    sign_in(client)
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/operator").text).group(1)
    assert client.delete("/api/operator/documents/beta").status_code == 403  # a session without its token
    assert client.delete("/api/operator/documents/beta", headers={"x-csrf-token": csrf}).status_code == 204
    last = client.delete("/api/operator/documents/gamma", headers={"x-csrf-token": csrf})
    assert last.status_code == 409 and "last document" in last.json()["error"]
    assert [d["doc_id"] for d in client.get("/api/documents").json()] == ["gamma"]
    assert sorted(p.name for p in corpus.iterdir()) == ["gamma.toml", "gamma.txt"]


# Uploading ----------------------------------------------------------------------------------------


def test_uploading_a_russian_pdf_and_a_docx_adds_both_and_the_service_answers_from_them(small_collection, tmp_path):
    from doc_fixtures import RUSSIAN_TITLE, make_docx, make_russian

    client, corpus, operator_file = small_collection
    token = create_token(operator_file, "uploads")
    pdf = make_russian(tmp_path / "отчёт.pdf")  # a Cyrillic file name
    docx = make_docx(tmp_path / "report.docx")
    files = [("files", ("отчёт.pdf", pdf.read_bytes(), "application/pdf")),
             ("files", ("../../etc/report.docx", docx.read_bytes(), "application/octet-stream"))]
    assert client.post("/api/operator/documents", files=files).status_code == 401
    added = client.post("/api/operator/documents", files=files, data={"publisher": "NGO"},
                        headers={"authorization": f"Bearer {token}"})
    assert added.status_code == 201, added.text
    rows = added.json()
    assert len(rows) == 2 and all(row["passages"] > 0 for row in rows)
    assert rows[0]["doc_id"].startswith("upload-") and rows[1]["doc_id"] == "report"
    assert rows[0]["title"] == RUSSIAN_TITLE
    # The name's folders were ignored: the file is in the corpus under its own id.
    assert (corpus / "report.docx").is_file() and not (tmp_path / "etc").exists()
    listed = {d["doc_id"] for d in client.get("/api/documents").json()}
    assert {"alpha", "beta", "gamma", rows[0]["doc_id"], "report"} == listed


@pytest.mark.parametrize(("name", "content", "says"), [
    ("renamed.docx", b"%PDF-1.4\n%...", "is a PDF, not .docx"),
    ("page.pdf", b"<!doctype html><html><body>hi</body></html>", "is a web page (HTML), not .pdf"),
    ("archive.docx", None, "zip archive that is not a Word document"),
    ("binary.txt", b"\x00\x01\x02" * 100, "is binary data"),
    ("notes.exe", b"MZ", "unsupported format .exe"),
])
def test_a_file_that_is_not_what_its_name_says_is_refused_and_nothing_changes(small_collection, name, content, says):
    import io
    import zipfile

    client, corpus, operator_file = small_collection
    if content is None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("hello.txt", "hello")
        content = buffer.getvalue()
    token = create_token(operator_file, "uploads")
    before = sorted(p.name for p in corpus.iterdir())
    refused = client.post("/api/operator/documents", files=[("files", (name, content, "application/octet-stream"))],
                          headers={"authorization": f"Bearer {token}"})
    assert refused.status_code == 422 and says in refused.json()["error"], refused.text
    assert sorted(p.name for p in corpus.iterdir()) == before


def test_an_upload_over_the_limit_is_refused_before_it_is_read(small_collection):
    client, corpus, operator_file = small_collection
    token = create_token(operator_file, "uploads")
    before = sorted(p.name for p in corpus.iterdir())
    big = b"a" * 50_000_000
    refused = client.post("/api/operator/documents", files=[("files", ("big.txt", big, "text/plain"))],
                          headers={"authorization": f"Bearer {token}"})
    assert refused.status_code == 413 and "max_upload_bytes" in refused.json()["error"]
    assert sorted(p.name for p in corpus.iterdir()) == before


def test_a_session_upload_needs_its_csrf_token(small_collection):
    client, corpus, _ = small_collection
    sign_in(client)
    files = [("files", ("delta.txt", b"Delta report\n\nA clinic in Shymkent tests for HIV for free.\n", "text/plain"))]
    assert client.post("/api/operator/documents", files=files).status_code == 403
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/operator").text).group(1)
    added = client.post("/api/operator/documents", files=files, headers={"x-csrf-token": csrf})
    assert added.status_code == 201 and added.json()[0]["doc_id"] == "delta"


def test_questions_asked_every_100_ms_during_an_upload_and_a_removal_never_fail(web_assistant, tmp_path):
    """A live server (uvicorn, real threads) on a copy of the real corpus: one client asks every
    100 ms while another uploads a document and then removes one; every question is answered (200),
    and some were asked while each change was running."""
    import shutil
    import threading
    import time

    import httpx
    from conftest_web import _serve

    from assistant.settings import PROJECT_ROOT
    from assistant.store.build import build_index

    corpus = tmp_path / "corpus"
    shutil.copytree(PROJECT_ROOT / "corpus", corpus)
    operator_file = tmp_path / "operator.toml"
    set_password(operator_file, PASSWORD)
    token = create_token(operator_file, "load")
    settings = web_assistant.settings.model_copy(update={
        "corpus_dir": corpus, "index_dir": tmp_path / "index", "operator_file": operator_file,
        "operator_audit_file": tmp_path / "audit.jsonl",
        "embedding_cache_dir": web_assistant.settings.embedding_cache_path})  # nothing embedded twice
    assistant = Assistant(build_index(settings, web_assistant.embedders, progress=False), web_assistant.embedders,
                          settings)
    asks: list[tuple[float, float, int]] = []
    changes: list[tuple[float, float]] = []
    stop = threading.Event()

    def ask_once(asker: httpx.Client) -> None:
        started = time.monotonic()
        try:
            status = asker.post("/api/ask", json={"question": "Where can a migrant get an HIV test?"}).status_code
        except httpx.HTTPError:
            status = 0
        asks.append((started, time.monotonic(), status))

    def ask_every_100_ms(address: str) -> None:
        """A new question every 100 ms, whether or not the last one was answered yet."""
        with httpx.Client(base_url=address, timeout=120, limits=httpx.Limits(max_connections=200)) as asker:
            pending = []
            while not stop.is_set():
                pending.append(threading.Thread(target=ask_once, args=(asker,)))
                pending[-1].start()
                time.sleep(0.1)
            for thread in pending:
                thread.join()

    victim = next(iter(assistant.index.documents))
    for address in _serve(assistant):
        asker = threading.Thread(target=ask_every_100_ms, args=(address,))
        asker.start()
        try:
            with httpx.Client(base_url=address, timeout=600, headers={"authorization": f"Bearer {token}"}) as operator:
                time.sleep(0.5)
                text = b"Delta report\n\nA clinic in Shymkent tests for HIV for free every Monday.\n"
                started = time.monotonic()
                assert operator.post("/api/operator/documents", files=[("files", ("delta.txt", text, "text/plain"))]
                                     ).status_code == 201
                changes.append((started, time.monotonic()))
                started = time.monotonic()
                assert operator.delete(f"/api/operator/documents/{victim}").status_code == 204
                changes.append((started, time.monotonic()))
                time.sleep(0.5)
        finally:
            stop.set()
            asker.join()
    assert asks and {status for _, _, status in asks} == {200}, asks
    during = [sum(1 for a, b, _ in asks if a < end and b > start) for start, end in changes]
    assert all(count > 0 for count in during), (during, changes)
    print(f"questions: {len(asks)} asked, all answered; during the upload {during[0]}, during the removal {during[1]}")


def test_the_audit_trail_says_which_change_when_and_by_whom_and_nothing_else(small_collection, tmp_path, monkeypatch,
                                                                            capsys):
    import json
    import stat

    from assistant.cli import main
    from assistant.operator import audit

    client, corpus, operator_file = small_collection
    trail = tmp_path / "audit.jsonl"
    token = create_token(operator_file, "office script")
    files = [("files", ("delta.txt", b"Delta report\n\nA clinic in Shymkent tests for HIV.\n", "text/plain"))]
    assert client.post("/api/operator/documents", files=files, headers={"authorization": f"Bearer {token}"}
                       ).status_code == 201
    sign_in(client)
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/operator").text).group(1)
    assert client.post("/operator/documents/beta/remove", data={"csrf": csrf}).status_code == 303
    entries = audit.read(trail)
    assert [(e.action, e.documents) for e in entries] == [("upload", ["delta"]), ("sign-in", []), ("remove", ["beta"])]
    assert entries[0].by == "token office script"
    assert re.fullmatch(r"session [0-9a-f]{8}", entries[1].by) and entries[1].by == entries[2].by
    session_id = client.cookies.get("operator_session")
    raw = trail.read_text()
    assert session_id not in raw and token not in raw and "testclient" not in raw and "127.0.0.1" not in raw
    assert stat.S_IMODE(trail.stat().st_mode) == 0o600
    page = client.get("/operator").text
    assert "Recent changes" in page and "remove (session " in page
    # The same lines from the command line, as JSON.
    monkeypatch.setenv("ASSISTANT_OPERATOR_AUDIT_FILE", str(trail))
    capsys.readouterr()
    assert main(["operator", "log"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["action"] for line in lines] == ["upload", "sign-in", "remove"]


def test_correcting_a_date_updates_the_citations_at_once(small_collection):
    """alpha and beta are dated 2020; correcting beta's date to 2026 shows in its citations at once;
    a bad value is refused with nothing changed."""
    client, corpus, operator_file = small_collection
    token = create_token(operator_file, "edits")
    auth = {"authorization": f"Bearer {token}"}
    question = {"question": "Who helps survivors of trafficking and who hands out HIV test kits?", "k": 3}
    before = client.post("/api/ask", json=question).json()
    assert {r["citation"]["doc_id"]: r["citation"]["year"] for r in before["results"]}.get("beta") == 2020
    refused = client.patch("/api/operator/documents/beta", json={"date": "next year"}, headers=auth)
    assert refused.status_code == 422
    refused = client.patch("/api/operator/documents/beta", json={"url": "javascript:alert(1)"}, headers=auth)
    assert refused.status_code == 422 and "http(s)" in refused.json()["error"]
    assert client.patch("/api/operator/documents/nope", json={"date": "2025"}, headers=auth).status_code == 404
    sidecar = (corpus / "beta.toml").read_text()
    assert 'date = "2020"' in sidecar
    edited = client.patch("/api/operator/documents/beta", json={"date": "2026", "publisher": "Shelter NGO"},
                          headers=auth)
    assert edited.status_code == 200, edited.text
    assert edited.json()["year"] == 2026 and edited.json()["publisher"] == "Shelter NGO"
    assert 'date = "2026"' in (corpus / "beta.toml").read_text()
    assert not [p for p in corpus.iterdir() if p.name.startswith(".staged")]
    after = client.post("/api/ask", json=question).json()
    assert {r["citation"]["doc_id"]: r["citation"]["year"] for r in after["results"]}["beta"] == 2026
