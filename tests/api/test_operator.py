"""The operator area's sign-in (issue 26, first part), through TestClient on the real index: absent
without an operator file; the password form with its anti-forgery value; the session cookie's
flags; CSRF on sign-out; bearer tokens for the JSON route; failed sign-ins slowed."""

from __future__ import annotations

import html
import re
import time

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


def finish(client: TestClient, started, seconds: float = 300) -> dict:
    """Wait for the change a page started (`started`: its redirect to the progress page) and return
    its last status."""
    job_id = started.headers["location"].split("/operator/jobs/")[1].split("?")[0]
    deadline = time.monotonic() + seconds
    while True:
        status = client.get(f"/api/operator/jobs/{job_id}").json()
        if status["state"] != "running" or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


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
    started = client.post("/operator/documents/beta/remove", data={"csrf": csrf})
    assert started.status_code == 303 and started.headers["location"].startswith("/operator/jobs/")
    assert finish(client, started)["state"] == "done"
    assert "Back to the collection" in client.get(started.headers["location"]).text
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
    assert rows[0]["doc_id"] == "otchet" and rows[1]["doc_id"] == "report"  # the Russian name transliterated
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
    import threading
    import time

    import httpx
    from conftest_web import _serve, operator_copy

    assistant = operator_copy(web_assistant, tmp_path, PASSWORD)
    token = create_token(assistant.settings.operator_file, "load")
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
    assert finish(client, client.post("/operator/documents/beta/remove", data={"csrf": csrf}))["state"] == "done"
    entries = audit.read(trail)
    assert [(e.action, e.documents) for e in entries] == [("upload", ["delta"]), ("sign-in", []), ("remove", ["beta"])]
    assert entries[0].by == "token office script"
    assert re.fullmatch(r"session [0-9a-f]{8}", entries[1].by) and entries[1].by == entries[2].by
    session_id = client.cookies.get("operator_session")
    raw = trail.read_text()
    assert session_id not in raw and token not in raw and "testclient" not in raw and "127.0.0.1" not in raw
    assert stat.S_IMODE(trail.stat().st_mode) == 0o600
    page = client.get("/operator").text
    assert "Recent changes" in page and re.search(r"removed\s+\(session <code", page)
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


# Uploading from the page: the details found, confirmed or corrected, then added ------------------


def _csrf(text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


def test_the_page_shows_what_it_found_and_adds_the_files_with_the_corrected_details(small_collection, tmp_path):
    from doc_fixtures import RUSSIAN_TITLE, make_russian

    client, corpus, _ = small_collection
    assert client.get("/operator/upload").status_code == 303  # not signed in
    sign_in(client)
    form = client.get("/operator/upload")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
    pdf = make_russian(tmp_path / "доклад.pdf")
    files = [("files", ("доклад.pdf", pdf.read_bytes(), "application/pdf")),
             ("files", ("epsilon.txt", b"Epsilon report\n\nA clinic in Shymkent tests for HIV for free.\n", "text/plain"))]
    assert client.post("/operator/upload", files=files, data={"csrf": "forged"}).status_code == 403
    before = sorted(p.name for p in corpus.iterdir())
    preview = client.post("/operator/upload", files=files, data={"csrf": _csrf(form.text)})
    assert preview.status_code == 200, preview.text
    page = html.unescape(preview.text)
    # What was found, shown for confirmation: the PDF's own title, the text's first line; nothing added yet.
    assert f'value="{RUSSIAN_TITLE}"' in page and 'value="Epsilon report"' in page
    assert "Not found in the file: publisher, date" in page
    assert sorted(p.name for p in corpus.iterdir()) == before
    action = re.search(r'action="(/operator/upload/[^"]+)"', preview.text).group(1)
    fields = dict(re.findall(r'name="((?:title|publisher|date|url|language)-\d)" value="([^"]*)"', page))
    fields.update({"csrf": _csrf(preview.text), "date-1": "2019-05", "publisher-1": "Clinic", "language-0": "ru",
                   "language-1": "en", "add": ""})
    refused = client.post(action, data={**fields, "date-1": "May 2019"})
    assert refused.status_code == 422 and "is not YYYY" in refused.text and 'value="May 2019"' in refused.text
    assert sorted(p.name for p in corpus.iterdir()) == before
    started = client.post(action, data=fields)
    assert started.status_code == 303 and started.headers["location"].startswith("/operator/jobs/")
    status = finish(client, started)
    assert status["state"] == "done" and status["action"] == "upload", status
    assert status["step"] == "switching"  # the build's progress reached the job, to its last step
    done_page = client.get(started.headers["location"]).text
    assert "Done" in done_page and 'href="/documents/epsilon"' in done_page
    listed = {row["doc_id"]: row for row in client.get("/api/operator/documents").json()}
    assert listed["epsilon"]["year"] == 2019 and listed["epsilon"]["publisher"] == "Clinic"
    assert listed["epsilon"]["added"]
    russian = listed["doklad"]  # named after "доклад.pdf", transliterated
    assert russian["title"] == RUSSIAN_TITLE and russian["language"] == "ru"
    assert "[publisher]" not in (corpus / "epsilon.toml").read_text() and 'publisher = "Clinic"' in (
        corpus / "epsilon.toml").read_text()
    # The pending upload is spent: confirming it again adds nothing.
    again = client.post(action, data=fields)
    assert again.status_code == 410 and "no longer waiting" in again.text


def test_a_refused_file_is_said_on_the_upload_page_and_cancel_adds_nothing(small_collection):
    client, corpus, _ = small_collection
    sign_in(client)
    csrf = _csrf(client.get("/operator/upload").text)
    refused = client.post("/operator/upload", data={"csrf": csrf},
                          files=[("files", ("renamed.docx", b"%PDF-1.4\n%...", "application/octet-stream"))])
    assert refused.status_code == 422 and "is a PDF, not .docx" in html.unescape(refused.text)
    assert 'type="file"' in refused.text  # the form again, to choose another file
    nothing = client.post("/operator/upload", data={"csrf": csrf},
                          files=[("files", ("", b"", "application/octet-stream"))])
    assert nothing.status_code == 422 and "choose at least one file" in nothing.text
    before = sorted(p.name for p in corpus.iterdir())
    preview = client.post("/operator/upload", data={"csrf": csrf},
                          files=[("files", ("zeta.txt", b"Zeta report\n\nA hotline answers at night.\n", "text/plain"))])
    action = re.search(r'action="(/operator/upload/[^"]+)"', preview.text).group(1)
    cancelled = client.post(action, data={"csrf": _csrf(preview.text), "cancel": ""})
    assert cancelled.status_code == 303 and cancelled.headers["location"] == "/operator"
    assert sorted(p.name for p in corpus.iterdir()) == before


def test_a_pending_upload_is_its_own_sessions_only(small_collection, web_assistant):
    client, _, operator_file = small_collection
    sign_in(client)
    preview = client.post("/operator/upload", data={"csrf": _csrf(client.get("/operator/upload").text)},
                          files=[("files", ("eta.txt", b"Eta report\n\nA text.\n", "text/plain"))])
    action = re.search(r'action="(/operator/upload/[^"]+)"', preview.text).group(1)
    with TestClient(client.app, follow_redirects=False) as other:
        sign_in(other)
        theirs = other.post(action, data={"csrf": _csrf(other.get("/operator").text), "add": ""})
        assert theirs.status_code == 410


def test_the_preview_route_says_what_an_upload_would_add_and_changes_nothing(small_collection):
    client, corpus, operator_file = small_collection
    token = create_token(operator_file, "preview")
    before = sorted(p.name for p in corpus.iterdir())
    found = client.post("/api/operator/documents/preview", headers={"authorization": f"Bearer {token}"},
                        files=[("files", ("theta.txt", b"Theta report\n\nSurveyed in 2018 and 2021.\n", "text/plain"))])
    assert found.status_code == 200, found.text
    (row,) = found.json()
    assert row["doc_id"] == "theta" and row["title"] == "Theta report" and row["passages"] >= 1
    assert row["year"] is None and row["year_estimate"] == 2021 and row["missing"] == ["publisher", "date"]
    taken = client.post("/api/operator/documents/preview", headers={"authorization": f"Bearer {token}"},
                        files=[("files", ("alpha.txt", b"Another alpha\n\nText.\n", "text/plain"))])
    assert taken.status_code == 422 and "already has a document with id 'alpha'" in taken.json()["error"]
    assert sorted(p.name for p in corpus.iterdir()) == before


def test_a_damaged_file_is_refused_by_the_preview_in_one_line_and_listed_when_dropped_in(small_collection,
                                                                                          tmp_path, embedders):
    """Issue 28: what a parser raises on a damaged upload is a 422 with the one line naming the file
    (the preview answered 500 for these), on the JSON route and on the page; and a damaged file
    dropped into the corpus folder is named on the operator's page once the index leaves it out."""
    from doc_fixtures import make_damaged_docx, make_deep_pdf

    from assistant.settings import Settings
    from assistant.store.build import build_index

    client, corpus, operator_file = small_collection
    token = create_token(operator_file, "damaged")
    before = sorted(p.name for p in corpus.iterdir())
    for path, says in [(make_deep_pdf(tmp_path / "deep.pdf"), "deep.pdf is not a readable PDF (Maximum page tree"),
                       (make_damaged_docx(tmp_path / "damaged.docx"),
                        "damaged.docx is not a readable Word (.docx) file (Error -3 while decompressing data")]:
        refused = client.post("/api/operator/documents/preview", headers={"authorization": f"Bearer {token}"},
                              files=[("files", (path.name, path.read_bytes(), "application/octet-stream"))])
        assert refused.status_code == 422 and refused.json()["error"].startswith(says), refused.text
        assert "\n" not in refused.json()["error"]
    sign_in(client)
    page = client.post("/operator/upload", data={"csrf": _csrf(client.get("/operator/upload").text)},
                       files=[("files", ("deep.pdf", (tmp_path / "deep.pdf").read_bytes(), "application/pdf"))])
    assert page.status_code == 422 and "deep.pdf is not a readable PDF (Maximum page tree" in html.unescape(page.text)
    assert sorted(p.name for p in corpus.iterdir()) == before
    make_deep_pdf(corpus / "dropped.pdf")
    build_index(Settings(corpus_dir=corpus, index_dir=corpus.parent / "index"), embedders, progress=False)
    listing = html.unescape(client.get("/operator").text)
    assert "Files left out of the collection" in listing
    assert "dropped.pdf</code>: dropped.pdf is not a readable PDF (Maximum page tree depth reached" in listing


# Correcting from the page, and a change's progress ----------------------------------------------


def test_correcting_a_year_from_the_page_updates_the_index(small_collection):
    client, corpus, _ = small_collection
    assert client.get("/operator/documents/alpha/edit").status_code == 303
    sign_in(client)
    form = client.get("/operator/documents/alpha/edit")
    assert form.status_code == 200 and 'value="Alpha report"' in form.text and 'value="2020"' in form.text
    unchanged = dict(re.findall(r'name="(title|publisher|date|url)" value="([^"]*)"', form.text))
    unchanged.update(csrf=_csrf(form.text), language=re.search(r'<option value="(\w+)"[^>]*selected', form.text).group(1))
    assert unchanged["language"] == "en"  # detected: the file declares none
    same = client.post("/operator/documents/alpha/edit", data=unchanged)
    assert same.status_code == 303 and same.headers["location"] == "/operator"  # nothing to change, no change
    assert "language" not in (corpus / "alpha.toml").read_text()
    refused = client.post("/operator/documents/alpha/edit", data={"csrf": _csrf(form.text), "date": "20x6"})
    assert refused.status_code == 422 and "is not YYYY" in refused.text
    assert client.post("/operator/documents/alpha/edit", data={"date": "2026"}).status_code == 403
    started = client.post("/operator/documents/alpha/edit",
                          data={"csrf": _csrf(form.text), "title": "Alpha report", "date": "2026", "language": "en"})
    assert started.status_code == 303
    assert finish(client, started)["state"] == "done"
    row = next(d for d in client.get("/api/documents").json() if d["doc_id"] == "alpha")
    assert row["year"] == 2026 and row["title"] == "Alpha report"
    assert 'date = "2026"' in (corpus / "alpha.toml").read_text()
    assert client.get("/operator/documents/nope/edit").status_code == 404


def test_one_change_at_a_time_and_a_finished_job_says_how_it_went(small_collection):
    from assistant.operator.jobs import Jobs

    client, _, operator_file = small_collection
    token = create_token(operator_file, "jobs")
    assert client.get("/api/operator/jobs/nope", headers={"authorization": f"Bearer {token}"}).status_code == 404
    assert client.get("/api/operator/jobs/nope").status_code == 401
    jobs: Jobs = client.app.state.operator_jobs
    release = __import__("threading").Event()
    job = jobs.start("edit", ["alpha"], release.wait)
    busy = client.patch("/api/operator/documents/beta", json={"date": "2021"},
                        headers={"authorization": f"Bearer {token}"})
    assert busy.status_code == 409 and "another change" in busy.json()["error"]
    running = client.get(f"/api/operator/jobs/{job.id}", headers={"authorization": f"Bearer {token}"}).json()
    assert running["state"] == "running" and running["message"] == "Starting"
    release.set()
    job.finished.wait(10)
    done = client.get(f"/api/operator/jobs/{job.id}", headers={"authorization": f"Bearer {token}",
                                                               "accept-language": "ru"}).json()
    assert done["state"] == "done" and "Готово" in done["message"]


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_the_operator_pages_speak_the_operators_language(small_collection, lang):
    """Every word the operator pages say themselves is Russian (Kazakh): sign-in, the table, upload,
    the details found, correction, removal and a change's progress."""
    from test_i18n import ALLOWED_LATIN, interface_text

    client, _, _ = small_collection
    form = client.get("/operator/sign-in", params={"lang": lang})
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text).group(1)
    client.post(f"/operator/sign-in?lang={lang}", data={"nonce": nonce, "password": PASSWORD})
    csrf = _csrf(client.get("/operator").text)
    preview = client.post(f"/operator/upload?lang={lang}", data={"csrf": csrf},
                          files=[("files", ("iota.txt", b"Iota report\n\nA text.\n", "text/plain"))])
    refused = client.post(f"/operator/upload?lang={lang}", data={"csrf": csrf},
                          files=[("files", ("renamed.docx", b"%PDF-1.4\n%...", "application/octet-stream"))])
    started = client.post(f"/operator/documents/beta/remove?lang={lang}", data={"csrf": csrf})
    finish(client, started)
    pages = {
        "sign-in": form.text, "preview": preview.text, "refused": refused.text,
        "job": client.get(started.headers["location"]).text,
        **{path: client.get(path, params={"lang": lang}).text
           for path in ("/operator", "/operator/upload", "/operator/documents/alpha/edit",
                        "/operator/documents/alpha/remove")},
    }
    names = {"iota", "txt", "renamed", "docx", "pdf", "html", "htm", "md", "https", "alpha", "beta", "gamma", "pdf-"}
    for name, page in pages.items():
        assert f'<html lang="{lang}">' in page, name
        english = sorted({word for word in re.findall(r"[A-Za-z][A-Za-z'-]+", interface_text(page))
                          if word not in ALLOWED_LATIN and word.lower() not in names})
        assert english == [], (name, english)


def test_a_refused_change_on_a_page_is_a_page_and_without_an_operator_file_nothing_shows(small_collection,
                                                                                         web_assistant, tmp_path):
    client, corpus, _ = small_collection
    sign_in(client)
    before = sorted(p.name for p in corpus.iterdir())
    forged = client.post("/operator/documents/beta/remove?lang=ru", data={"csrf": "forged"},
                         headers={"accept": "text/html"})
    assert forged.status_code == 403 and forged.headers["content-type"].startswith("text/html")
    assert "Не сделано" in forged.text and 'role="alert"' in forged.text and 'href="/operator?lang=ru"' in forged.text
    missing = client.get("/operator/documents/nope/edit")
    assert missing.status_code == 404 and "no such document in the collection" in missing.text
    assert sorted(p.name for p in corpus.iterdir()) == before
    with app_with(web_assistant, tmp_path / "absent.toml") as off:
        for path in ("/operator", "/operator/upload", "/operator/documents/beta/edit", "/operator/jobs/x"):
            response = off.get(path)
            assert response.status_code == 404 and response.json() == {"error": "Not Found"}, path


@pytest.mark.parametrize(("changes", "says"), [
    ({"date": "٢٠٢٤"}, "should match pattern"),  # other digits than 0-9: refused by the schema
    ({"date": "2024-13-45"}, "is not YYYY"),     # a date that does not exist
    ({"date": "0000"}, "is not YYYY"),
    ({"date": "2999"}, "is out of range: a source's date lies between 1900 and a year from today"),  # issue 28
    ({"date": "1015-05"}, "is out of range"),
    ({"publisher": "\u0000\u0001"}, "only control characters"),
])
def test_a_value_that_only_looks_right_is_refused_and_nothing_changes(small_collection, changes, says):
    client, corpus, operator_file = small_collection
    token = create_token(operator_file, "edits")
    before = sorted((p.name, p.read_bytes()) for p in corpus.iterdir())
    refused = client.patch("/api/operator/documents/alpha", json=changes, headers={"authorization": f"Bearer {token}"})
    assert refused.status_code == 422 and says in refused.json()["error"], refused.text
    upload = client.post("/api/operator/documents", data={"date": "2024-02-30"},
                         files=[("files", ("delta.txt", b"Delta report\n\nText.\n", "text/plain"))],
                         headers={"authorization": f"Bearer {token}"})
    assert upload.status_code == 422 and "--" not in upload.json()["error"]  # no command-line flag names
    assert sorted((p.name, p.read_bytes()) for p in corpus.iterdir()) == before
