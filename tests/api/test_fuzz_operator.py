"""Schemathesis over the operator's routes (every operation under /api/operator), signed in: on a
copy of the real corpus with a fresh index (real models, real FAISS) and an operator file, valid
and invalid requests generated for each operation carry the session cookie and its X-CSRF-Token
(signed in through the real form), or a bearer token; no 5xx, every response conforms to the
schema (`case.validate_response`, every check), never a 401 or 403, and afterwards the collection
is whole: every document the operator's list names has its corpus file, the corpus and the index
agree, the index loads and the service answers.

Generated ids rarely exist, so an edit draws an existing document's id most of the time and a
removal one time in three (the body is still the generated one); an upload is sent as generated
(its file named by schemathesis, so refused) or, for half the valid ones, as one generated text
file named `.txt` with the generated title, publisher, date and address, so documents are added
too; a preview likewise. Each change that succeeds rebuilds the index, which keeps the example counts modest: about
220 requests for each way of signing in, some 30 s each."""

from __future__ import annotations

import re
import shutil

import pytest
import schemathesis
from fastapi.testclient import TestClient
from fuzzing import fuzz, label, operations
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from test_operator import PASSWORD, sign_in

from assistant.api import create_app
from assistant.ingest.corpus import corpus_files, document_id
from assistant.operator.credentials import create_token, set_password
from assistant.query.assistant import Assistant
from assistant.settings import PROJECT_ROOT, Settings
from assistant.store.build import build_index
from assistant.store.index import load_index
from assistant.store.transaction import JOURNAL_FILE

LIST, UPLOAD = "GET /api/operator/documents", "POST /api/operator/documents"
PREVIEW, JOB = "POST /api/operator/documents/preview", "GET /api/operator/jobs/{job_id}"
EDIT, REMOVE = "PATCH /api/operator/documents/{doc_id}", "DELETE /api/operator/documents/{doc_id}"
# Examples per operation and generation mode: a change that succeeds rebuilds the index.
EXAMPLES = {LIST: 20, PREVIEW: 20, EDIT: 40, UPLOAD: 30, REMOVE: 20, JOB: 20}
OTHER_EXAMPLES = 20
# Edits first (on the whole collection), removals last (down to the last document, refused).
ORDER = [LIST, PREVIEW, EDIT, UPLOAD, REMOVE, JOB]
MIN_REQUESTS = 150  # per way of signing in
# Valid by the schema, refused by the code (422, documented) for what the schema does not say:
# an upload's files (their content and format, at least one, one title or address for several);
# an edit's address that is not http(s), a date of the right form that does not exist (2024-13-45) or
# lies outside 1900 to a year from today, and a value of control characters only (those refusals only).
REFUSED_BY_CONTENT = {UPLOAD: ("",), PREVIEW: ("",),
                      EDIT: ("is not an http(s) address", "is not YYYY", "is out of range", "only control characters")}


@pytest.fixture(scope="module", params=["session", "bearer"])
def operator_api(request, embedders, tmp_path_factory):
    """A copy of the corpus, indexed afresh, served with an operator file: the app, its assistant,
    and the cookies and headers every request of the signed-in operator carries."""
    folder = tmp_path_factory.mktemp(f"fuzz-operator-{request.param}")
    shutil.copytree(PROJECT_ROOT / "corpus", folder / "corpus")
    operator_file = folder / "operator.toml"
    set_password(operator_file, PASSWORD)
    settings = Settings(corpus_dir=folder / "corpus", index_dir=folder / "index", operator_file=operator_file,
                        operator_audit_file=folder / "audit.jsonl")
    assistant = Assistant(build_index(settings, embedders, progress=False), embedders, settings)
    app = create_app(assistant)
    cookies: dict[str, str] = {}
    if request.param == "session":
        with TestClient(app, follow_redirects=False) as client:
            assert sign_in(client).status_code == 303
            csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/operator").text).group(1)
            cookies = {"operator_session": client.cookies["operator_session"]}
        headers = {"x-csrf-token": csrf}
    else:
        headers = {"authorization": f"Bearer {create_token(operator_file, 'fuzz')}"}
    return app, assistant, cookies, headers


def test_the_operator_routes_conform_to_the_schema_and_leave_the_collection_whole(operator_api):
    app, assistant, cookies, headers = operator_api
    settings = assistant.settings
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    found = operations(schema, "/api/operator/")
    assert set(ORDER) <= {label(operation) for operation in found}
    found.sort(key=lambda operation: ORDER.index(label(operation)) if label(operation) in ORDER else len(ORDER))
    refused: dict[str, int] = {}
    statuses: dict[str, set[int]] = {}
    uploaded = 0
    client = TestClient(app, cookies=dict(cookies), headers=dict(headers))

    def send(case, data):
        nonlocal uploaded
        if "doc_id" in case.path_parameters:
            # Mostly an existing document for an edit, about one in three for a removal (down to the
            # last one). A position, not an id, is drawn: the ids change as the fuzzing goes on.
            ids = sorted(assistant.index.documents)
            chosen = data.draw(st.integers(0, 5), label="existing document")
            if chosen < (5 if case.method.upper() == "PATCH" else 2):
                case.path_parameters["doc_id"] = ids[chosen % len(ids)]
        if (label(case.operation) == PREVIEW and case.meta.generation.mode.is_positive
                and data.draw(st.booleans(), "a .txt file")):
            text = data.draw(st.text(max_size=200), label="text")
            return client.post("/api/operator/documents/preview", files=[
                ("files", ("previewed.txt", f"Previewed report\n\n{text}\n".encode(), "text/plain"))])
        if (label(case.operation) == UPLOAD and case.meta.generation.mode.is_positive and isinstance(case.body, dict)
                and data.draw(st.booleans(), "a .txt file")):
            uploaded += 1
            text = data.draw(st.text(max_size=200), label="text")
            fields = {key: value for key, value in case.body.items()
                      if key in ("title", "publisher", "date", "url") and isinstance(value, str)}
            return client.post("/api/operator/documents", data=fields, files=[
                ("files", (f"fuzzed-{uploaded}.txt", f"Fuzzed report {uploaded}\n\n{text}\n".encode(), "text/plain"))])
        return case.call(headers=headers, cookies=cookies)

    def check(case, response):
        name = label(case.operation)
        statuses.setdefault(name, set()).add(response.status_code)
        if (response.status_code == 422 and name in REFUSED_BY_CONTENT and case.meta.generation.mode.is_positive
                and any(part in response.json()["error"] for part in REFUSED_BY_CONTENT[name])):
            refused[name] = refused.get(name, 0) + 1
            case.validate_response(response, excluded_checks=[positive_data_acceptance])
            return
        case.validate_response(response)

    sent: dict[str, dict[str, int]] = {}
    failures = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        fuzzed = fuzz(found, mode, lambda name: EXAMPLES.get(name, OTHER_EXAMPLES), send=send, check=check)
        sent[mode.value] = fuzzed.sent
        failures += fuzzed.failures
    total = sum(sum(counts.values()) for counts in sent.values())
    print(f"operator fuzz requests: {total} {sent}; valid but refused (422): {refused}; statuses: {statuses}")
    assert not failures, "\n\n".join(failures)
    assert total >= MIN_REQUESTS, sent
    # Signed in all along (never 401 or 403), and each operation did its work at least once.
    assert not {401, 403} & set().union(*statuses.values()), statuses
    assert {name: min(codes) for name, codes in statuses.items() if name in ORDER} == {
        LIST: 200, PREVIEW: 200, EDIT: 200, UPLOAD: 201, REMOVE: 204, JOB: 404}, statuses

    # The collection is whole: what the operator's list names is in the corpus and in the index.
    listed = client.get("/api/operator/documents")
    assert listed.status_code == 200
    ids = {row["doc_id"] for row in listed.json()}
    files = {document_id(path) for path in corpus_files(settings.corpus_dir)}
    assert ids and ids == files
    index = load_index(settings.index_dir, settings)
    assert set(index.documents) == ids
    assert not (settings.index_dir / JOURNAL_FILE).exists()
    assert not [path.name for path in settings.corpus_dir.iterdir() if path.name.startswith(".")]
    assert client.post("/api/ask", json={"question": "Is sex work legal in Kazakhstan?"}).status_code == 200
