"""Bounded work for every input, only safe things stored and shown, and damage named (issue 15,
findings 3 to 9): the bombs are made here at small scale against proportionally small limits, set
as a user would (ASSISTANT_MAX_* in the environment); each is refused by `assistant add` with one
line and exit 2, and leaves the collection as it was."""

from __future__ import annotations

import io
import logging
import os
import shutil
import tomllib
import zipfile
from pathlib import Path

import pytest
from doc_fixtures import make_damaged_docx, make_deep_pdf, make_deep_sidecar, make_docx, make_self_referencing_pdf
from fastapi.testclient import TestClient

from assistant.api import create_app
from assistant.cli import main
from assistant.embedding import CachedEmbedder
from assistant.errors import IndexCorruptError
from assistant.ingest.corpus import load_corpus, safe_url
from assistant.query.assistant import Assistant
from assistant.settings import Settings
from assistant.store.build import build_index
from assistant.store.index import load_index
from assistant.store.layout import CURRENT_FILE, current_build
from assistant.store.library import add_documents

SMALL_LIMITS = {
    "ASSISTANT_MAX_TEXT_BYTES": "20000",
    "ASSISTANT_MAX_HTML_BYTES": "20000",
    "ASSISTANT_MAX_DOCX_UNPACKED_BYTES": "2000000",
    "ASSISTANT_MAX_XML_TEXT_CHARS": "10000",
    "ASSISTANT_MAX_TEXT_CHARS": "15000",
}
PARAGRAPH = "Peer outreach workers visited forty saunas in Almaty and offered rapid HIV tests. "


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, embedders) -> Path:
    folder = tmp_path_factory.mktemp("limits")
    corpus = folder / "corpus"
    corpus.mkdir()
    (corpus / "alpha.txt").write_text("Alpha report\n\nSex work was decriminalised in 2001.\n", encoding="utf-8")
    (corpus / "alpha.toml").write_text('title = "Alpha report"\npublisher = "Alpha"\ndate = "2020"\n', encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=folder / "index")
    build_index(settings, _cached(embedders, settings), progress=False)
    return folder


def _cached(embedders, settings: Settings) -> dict:
    return {space: CachedEmbedder(embedder.inner, settings.embedding_cache_path) for space, embedder in embedders.items()}


@pytest.fixture
def collection(seeded, tmp_path, monkeypatch) -> Settings:
    shutil.copytree(seeded, tmp_path / "c")
    for name, value in SMALL_LIMITS.items():
        monkeypatch.setenv(name, value)
    return Settings(corpus_dir=tmp_path / "c" / "corpus", index_dir=tmp_path / "c" / "index")


def _docx_with(path: Path, document_xml: bytes) -> Path:
    """A real .docx (python-docx) whose word/document.xml is replaced."""
    source = io.BytesIO()
    make_docx(path)
    with zipfile.ZipFile(path) as original, zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as copy:
        for item in original.infolist():
            copy.writestr(item.filename, document_xml if item.filename == "word/document.xml" else original.read(item))
    path.write_bytes(source.getvalue())
    return path


def _document_xml(body: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            f"<w:body>{body}</w:body></w:document>").encode()


def _paragraphs(count: int) -> str:
    return "".join(f"<w:p><w:r><w:t>{PARAGRAPH}{i}</w:t></w:r></w:p>" for i in range(count))


BOMBS = {
    # a Word file whose document.xml inflates past the limit (1 GB in the report, 3 MB here)
    "inflates.docx": ("unpacks to 3.", lambda d: _docx_with(d / "inflates.docx", _document_xml(_paragraphs(25_000)))),
    # one text node past the XML node limit, inside the unpacked limit
    "node.docx": ("has a text node of 50,000 characters",
                  lambda d: _docx_with(d / "node.docx", _document_xml(f"<w:p><w:r><w:t>{'x' * 50_000}</w:t></w:r></w:p>"))),
    "entities.docx": ("is not a readable Word", lambda d: _docx_with(d / "entities.docx", (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><d>&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;</d>'))),
    "big.html": ("the limit for .html files is 20,000 bytes", lambda d: _write(
        d / "big.html", f"<html><body><main>{'<p>' + PARAGRAPH + '</p>' * 1}{'<p>x</p>' * 4000}</main></body></html>")),
    "big.txt": ("the limit for .txt files is 20,000 bytes", lambda d: _write(d / "big.txt", PARAGRAPH * 300)),
    "long.md": ("holds 18,0", lambda d: _write(d / "long.md", PARAGRAPH * 220)),
    "nul.txt": ("is not text: 100% of its characters are control characters", lambda d: _write(d / "nul.txt", "\0" * 4096)),
    "utf16.txt": ("is not text", lambda d: _write(d / "utf16.txt", "Outreach report on HIV tests.")),
    "link.txt": ("is a symbolic link (to /etc/passwd)", lambda d: _link(d / "link.txt", Path("/etc/passwd"))),
    "device.txt": ("is not a regular file", lambda d: _link(d / "device.txt", Path("/dev/zero"), follow=True)),
    # Issue 28: what a parser raises on a damaged file (these were tracebacks with exit 1).
    "deep.pdf": ("deep.pdf is not a readable PDF (Maximum page tree depth reached: 101 > 100.)",
                 lambda d: make_deep_pdf(d / "deep.pdf")),
    "loop.pdf": ("loop.pdf is not a readable PDF (Detected loop with self reference",
                 lambda d: make_self_referencing_pdf(d / "loop.pdf")),
    "damaged.docx": ("damaged.docx is not a readable Word (.docx) file (Error -3 while decompressing data",
                     lambda d: make_damaged_docx(d / "damaged.docx")),
    "deep-sidecar.txt": ("deep-sidecar.toml is not valid TOML (maximum recursion depth exceeded)",
                         lambda d: _with_deep_sidecar(d / "deep-sidecar.txt")),
}


def _with_deep_sidecar(path: Path) -> Path:
    path.write_text("Deep sidecar\n\nThe clinic tests for free.\n", encoding="utf-8")
    make_deep_sidecar(path)
    return path


def _write(path: Path, text: str) -> Path:
    data = text.encode("utf-16-le") if path.name == "utf16.txt" else text.encode("utf-8")
    path.write_bytes(data)
    return path


def _link(path: Path, target: Path, *, follow: bool = False) -> Path:
    path.symlink_to(target)
    return path


def _state(settings: Settings):
    return sorted((p.name, p.read_bytes()) for p in settings.corpus_dir.iterdir()), current_build(settings.index_dir)


@pytest.mark.parametrize("name", BOMBS)
def test_each_bomb_is_refused_in_one_line_with_exit_2(collection, tmp_path, capsys, name):
    message, make = BOMBS[name]
    folder = tmp_path / "incoming"
    folder.mkdir()
    path = make(folder)
    before = _state(collection)
    flags = ["--follow-symlinks"] if name == "device.txt" else []
    assert main(["add", str(path), *flags, "--corpus", str(collection.corpus_dir), "--index", str(collection.index_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert _state(collection) == before


def test_a_symlink_is_read_with_follow_symlinks(collection, embedders, tmp_path):
    target = tmp_path / "outside.txt"
    target.write_text("Outside note\n\nThe outside clinic tests for free.\n", encoding="utf-8")
    link = tmp_path / "linked.txt"
    link.symlink_to(target)
    settings = collection.model_copy(update={"follow_symlinks": True})
    added, index = add_documents(settings, [link], embedders=_cached(embedders, settings))
    assert "linked" in index.documents
    stored = settings.corpus_dir / "linked.txt"
    assert not stored.is_symlink() and stored.read_bytes() == target.read_bytes()  # a copy, not the link


def test_a_document_past_its_time_budget_is_refused_by_add(collection, tmp_path, capsys, monkeypatch):
    """Issue 28: one paragraph of 3 MB takes seconds to clean here; with a budget of 0.3 s it is
    refused in one line, and the collection is as it was."""
    for name, value in {"ASSISTANT_MAX_TEXT_BYTES": "10000000", "ASSISTANT_MAX_TEXT_CHARS": "10000000",
                        "ASSISTANT_MAX_DOCUMENT_SECONDS": "0.3"}.items():
        monkeypatch.setenv(name, value)
    slow = tmp_path / "one-paragraph.txt"
    slow.write_text(f"{PARAGRAPH.strip()}\n" * 40_000, encoding="utf-8")
    before = _state(collection)
    assert main(["add", str(slow), "--corpus", str(collection.corpus_dir), "--index", str(collection.index_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: one-paragraph.txt took more than 0.3 s to read (setting ASSISTANT_MAX_DOCUMENT_SECONDS): "
                   "split it, save it in a simpler format (.txt), or raise the limit"]
    assert _state(collection) == before


def test_files_index_cannot_read_are_left_out_named_and_listed(collection, embedders, capsys, caplog):
    """Issue 28: a damaged file or a link in corpus/ no longer stops `index` (a traceback, exit 1, for
    the damaged PDF): the rest is indexed, each file left out is named on stderr, recorded in the
    manifest, and listed by `docs`; and since the index records the corpus as it is, `serve` does
    not take it for stale and build it again at every start."""
    corpus = collection.corpus_dir
    make_deep_pdf(corpus / "deep.pdf")
    make_damaged_docx(corpus / "damaged.docx")
    (corpus / "passwd.txt").symlink_to("/etc/passwd")
    where = ["--corpus", str(corpus), "--index", str(collection.index_dir)]
    with caplog.at_level(logging.WARNING):  # the build's warnings: on stderr, one line a file
        assert main(["index", *where]) == 0
    assert [line for line in caplog.messages if line.startswith("skipped ")] == [
        "skipped damaged.docx: damaged.docx is not a readable Word (.docx) file (Error -3 while decompressing data: "
        "invalid block type): it may be damaged; save it again from Word, or remove it",
        "skipped deep.pdf: deep.pdf is not a readable PDF (Maximum page tree depth reached: 101 > 100.): it may be "
        "damaged; save it again from the program that made it, or remove it",
        f"skipped passwd.txt: {corpus / 'passwd.txt'} is a symbolic link (to /etc/passwd): copy the file itself, or "
        "pass --follow-symlinks to read what it points to"]
    assert capsys.readouterr().err.splitlines()[-1] == (
        "3 files could not be read and are left out of the index (named above; `assistant docs` lists them): fix or "
        "remove them, then run `assistant index` again")
    index = load_index(collection.index_dir)
    assert set(index.documents) == {"alpha"}
    assert [name for name, _ in index.skipped] == ["damaged.docx", "deep.pdf", "passwd.txt"]
    assert main(["docs", *where]) == 0
    out, err = capsys.readouterr()
    assert "alpha" in out and "deep" not in out
    assert err.splitlines()[1].startswith("left out of the index: deep.pdf: deep.pdf is not a readable PDF")
    build = current_build(collection.index_dir)
    served = Assistant.open(collection, rebuild="stale", embedders=_cached(embedders, collection))  # as `serve` starts
    assert current_build(collection.index_dir) == build and set(served.index.documents) == {"alpha"}


def test_serve_starts_on_a_corpus_with_a_damaged_file_and_add_still_works(collection, embedders, tmp_path, caplog):
    make_self_referencing_pdf(collection.corpus_dir / "loop.pdf")
    cached = _cached(embedders, collection)
    with caplog.at_level(logging.WARNING):
        served = Assistant.open(collection, rebuild="stale", embedders=cached)  # the corpus changed: rebuilt
    assert set(served.index.documents) == {"alpha"} and [name for name, _ in served.index.skipped] == ["loop.pdf"]
    assert "skipped loop.pdf: loop.pdf is not a readable PDF" in caplog.text
    note = tmp_path / "beta.txt"
    note.write_text("Beta note\n\nThe beta clinic opens on Mondays.\n", encoding="utf-8")
    _, index = add_documents(collection, [note], embedders=cached)
    assert set(index.documents) == {"alpha", "beta"} and [name for name, _ in index.skipped] == ["loop.pdf"]


def test_unsafe_urls_and_control_characters_never_reach_the_index_or_the_api(collection, embedders, tmp_path, caplog):
    settings = collection
    (tmp_path / "note.txt").write_text("Beta note\n\nThere are 33 friendly cabinets.\n", encoding="utf-8")
    added, _ = add_documents(settings, [tmp_path / "note.txt"], title="Beta\x7f note\x00", publisher="NGO\x1b[31m",
                             url="javascript:alert(document.domain)", embedders=_cached(embedders, settings))
    assert any("--url 'javascript:alert(document.domain)' is not an http(s) address" in w for w in added[0].warnings)
    sidecar = (settings.corpus_dir / "note.toml").read_text(encoding="utf-8")
    assert tomllib.loads(sidecar) == {"title": "Beta note", "publisher": "NGO[31m"}  # valid TOML, controls gone
    # A hand-edited sidecar: the URL is left out with a warning, wherever it is shown.
    (settings.corpus_dir / "alpha.toml").write_text(
        'title = "Alpha\\u007f report"\nurl = "javascript:alert(document.domain)"\n', encoding="utf-8")
    index = build_index(settings, _cached(embedders, settings), progress=False)
    assert "not an http(s) address: left out" in caplog.text
    assert index.documents["alpha"].metadata.url is None and index.documents["alpha"].metadata.title == "Alpha report"
    client = TestClient(create_app(Assistant(index, embedders, settings)))
    listed = {d["doc_id"]: d for d in client.get("/api/documents").json()}
    assert listed["alpha"]["url"] is None and "javascript" not in client.get("/documents/alpha").text


@pytest.mark.parametrize("url, safe", [
    ("https://example.org/a?b=c", True), ("http://x.kz", True), ("HTTPS://EXAMPLE.ORG", True),
    ("javascript:alert(1)", False), ("JavaScript:alert(1)", False), ("data:text/html,x", False),
    ("file:///etc/passwd", False), ("https:/no-host", False), ("https://a b", False), ("//example.org", False),
    ("https://exa\x00mple.org", False), ("vbscript:x", False),
])
def test_only_http_urls_with_a_host_are_safe(url, safe):
    assert (safe_url(url) is not None) is safe


def test_sidecar_field_types_are_checked(tmp_path):
    (tmp_path / "a.txt").write_text("A\n\ntext\n", encoding="utf-8")
    (tmp_path / "a.toml").write_text("title = 5\n", encoding="utf-8")
    with pytest.raises(Exception, match="title must be text"):
        load_corpus(tmp_path, Settings().extraction_limits)


# --- damage ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("pointer", [os.urandom(40), b"..", b"../", b"/etc", b"build-x/../..", b"\xff\xfe",
                                     b"build-does-not-exist", b""])
def test_a_damaged_current_is_named_never_followed_and_serve_rebuilds(collection, embedders, capsys, pointer):
    (collection.index_dir / CURRENT_FILE).write_bytes(pointer)
    with pytest.raises(IndexCorruptError, match="rebuild"):
        current_build(collection.index_dir)
    assert main(["ask", "Is sex work legal?", "--corpus", str(collection.corpus_dir), "--index",
                 str(collection.index_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "assistant index" in err[0] and "Traceback" not in err[0]
    rebuilt = Assistant.open(collection, rebuild="stale", embedders=_cached(embedders, collection))  # as `serve` does
    assert set(rebuilt.index.documents) == {"alpha"}


def test_a_flipped_byte_in_any_index_file_is_named_like_a_truncation(collection, capsys):
    build = current_build(collection.index_dir)
    files = sorted(p for p in build.rglob("*") if p.is_file())
    assert {"manifest.json", "documents.json", "passages.jsonl"} <= {p.name for p in files}
    assert any(p.suffix == ".faiss" for p in files) and any(p.parent.name == "lexical" for p in files)
    for path in files:
        original = path.read_bytes()
        for where in (len(original) // 2, len(original) - 1):
            damaged = bytearray(original)
            damaged[where] ^= 0x01
            path.write_bytes(bytes(damaged))
            with pytest.raises(IndexCorruptError, match=r"is damaged|unreadable|inconsistent") as raised:
                load_index(collection.index_dir)
            assert "run `assistant index` to rebuild it" in str(raised.value), path.name
        path.write_bytes(original[: len(original) // 2])  # truncation: the same kind of message
        with pytest.raises(IndexCorruptError, match="rebuild"):
            load_index(collection.index_dir)
        path.write_bytes(original)
    load_index(collection.index_dir)  # whole again


# --- the request body ------------------------------------------------------------------------------


def test_an_oversized_body_is_a_413_before_it_is_parsed(assistant):
    client = TestClient(create_app(assistant))
    limit = assistant.settings.max_request_bytes
    big = b'{"question": "Is sex work legal?", "padding": "' + b"x" * limit + b'"}'
    with_length = client.post("/api/ask", content=big, headers={"content-type": "application/json"})
    assert with_length.status_code == 413 and "over 65,536 bytes" in with_length.json()["error"]
    assert with_length.headers["x-content-type-options"] == "nosniff"

    def chunks():  # no Content-Length: the body arrives in pieces
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    chunked = client.post("/api/ask", content=chunks(), headers={"content-type": "application/json"})
    assert chunked.status_code == 413 and set(chunked.json()) == {"error"}
    array = b'{"question": "x", "doc_ids": [' + b",".join([b"0"] * 40_000) + b"]}"
    assert client.post("/api/ask", content=array, headers={"content-type": "application/json"}).status_code == 413
    fine = client.post("/api/ask", json={"question": "Is sex work legal?", "k": 1})
    assert fine.status_code == 200
