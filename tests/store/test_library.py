"""`assistant add`, `remove` and `docs` on small temporary corpora, with the real model and FAISS:
incremental updates equal a full rebuild, nothing already embedded is embedded again, every bad
input is refused with one clear line and leaves corpus and index as they were, and the API shows
an added document without a restart."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, RecordingEmbedder
from doc_fixtures import (
    PDF_TITLE,
    make_docx,
    make_encrypted_pdf,
    make_html,
    make_huge_pdf,
    make_image_only_pdf,
    make_pdf,
)
from fastapi.testclient import TestClient

from assistant.api import create_app
from assistant.cli import main
from assistant.embedding import CachedEmbedder
from assistant.errors import CorpusError
from assistant.query.assistant import Assistant
from assistant.settings import Settings
from assistant.store.build import build_index
from assistant.store.index import load_index
from assistant.store.layout import current_build
from assistant.store.library import add_documents, edit_document, list_documents, remove_document

SEEDS = ["eatg-2025-new-legislation-criminalizing-sex-work", "nswp-2015-amelia-report-sex-work"]


def _seed_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in SEEDS:
        for suffix in (".txt", ".toml"):
            shutil.copyfile(REPO / "corpus" / f"{name}{suffix}", folder / f"{name}{suffix}")
    return folder


class Spy(dict):
    """The session's real models, each behind a real on-disk cache, recording which texts reach a model."""

    def __init__(self, embedders, cache_dir: Path):
        self.models = {space: RecordingEmbedder(embedder) for space, embedder in embedders.items()}
        super().__init__({space: CachedEmbedder(model, cache_dir) for space, model in self.models.items()})

    @property
    def encoded(self) -> list[str]:
        return [text for model in self.models.values() for text in model.passages]

    def forget(self) -> None:
        for model in self.models.values():
            model.passages.clear()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, embedders) -> Path:
    """Two seed documents, indexed once, with their vectors in the index folder's cache."""
    folder = tmp_path_factory.mktemp("seeded")
    settings = Settings(corpus_dir=_seed_corpus(folder / "corpus"), index_dir=folder / "index")
    build_index(settings, Spy(embedders, settings.embedding_cache_path), progress=False)
    return folder


@pytest.fixture
def library(seeded, tmp_path, embedders):
    """A copy of `seeded` of the test's own: corpus, index and embedding cache."""
    shutil.copytree(seeded, tmp_path / "lib")
    settings = Settings(corpus_dir=tmp_path / "lib" / "corpus", index_dir=tmp_path / "lib" / "index")
    return settings, Spy(embedders, settings.embedding_cache_path)


def _vectors(index, unit):
    rows = range(len(index.passages) if unit == "passage" else len(index.sentence_passage))
    return {space: index.backend.vectors(space, unit, rows) for space in index.spaces}


def _same_index(incremental, full):
    assert [(p.doc_id, p.section, p.start, p.end, p.text, p.sentences) for p in incremental.passages] == \
           [(p.doc_id, p.section, p.start, p.end, p.text, p.sentences) for p in full.passages]
    assert {k: (d.text, d.metadata, d.pages) for k, d in incremental.documents.items()} == \
           {k: (d.text, d.metadata, d.pages) for k, d in full.documents.items()}
    for unit in ("passage", "sentence"):
        built, expected = _vectors(incremental, unit), _vectors(full, unit)
        assert built.keys() == expected.keys()
        for space in built:
            np.testing.assert_allclose(built[space], expected[space], atol=1e-5)
    assert incremental.manifest["corpus_fingerprint"] == full.manifest["corpus_fingerprint"]


def test_add_and_remove_equal_a_full_rebuild_and_embed_only_the_new_text(library, embedders, tmp_path):
    settings, spy = library
    before = load_index(settings.index_dir)
    added, index = add_documents(settings, [make_pdf(tmp_path / "field-report.pdf")], publisher="Steppe Health Alliance",
                                 date="2023-06", embedders=spy)
    assert [a.document.doc_id for a in added] == ["field-report"]
    assert added[0].passages == sum(1 for p in index.passages if p.doc_id == "field-report") > 0
    new_texts = {p.text for p in index.passages if p.doc_id == "field-report"} | {
        p.text[s:e] for p in index.passages if p.doc_id == "field-report" for s, e in p.sentences}
    assert spy.encoded and set(spy.encoded) <= new_texts  # the other documents were not re-embedded
    assert (settings.corpus_dir / "field-report.pdf").is_file()
    sidecar = (settings.corpus_dir / "field-report.toml").read_text()
    assert f'title = "{PDF_TITLE}"' in sidecar and 'publisher = "Steppe Health Alliance"' in sidecar and 'date = "2023-06"' in sidecar

    # A full rebuild from scratch (fresh vectors, no cache) of the same corpus gives the same index.
    full = build_index(Settings(corpus_dir=settings.corpus_dir, index_dir=tmp_path / "full"), embedders, progress=False)
    _same_index(index, full)

    spy.forget()
    after = remove_document(settings, "field-report", embedders=spy)
    assert spy.encoded == []
    assert not any(settings.corpus_dir.glob("field-report.*"))
    assert not any(p.name.startswith(".removing") for p in settings.corpus_dir.iterdir())
    _same_index(after, before)


def test_add_several_formats_and_list_them(library, tmp_path, capsys):
    settings, spy = library
    paths = [make_html(tmp_path / "night-bus.html"), make_docx(tmp_path / "Shelter Guidelines.docx")]
    added, _ = add_documents(settings, paths, embedders=spy)
    ids = [a.document.doc_id for a in added]
    assert ids == ["night-bus", "shelter-guidelines"]
    assert (settings.corpus_dir / "shelter-guidelines.docx").is_file()
    assert 'source_file = "Shelter Guidelines.docx"' in (settings.corpus_dir / "shelter-guidelines.toml").read_text()
    assert added[0].warnings == []  # the page gives title, publisher and date
    assert "publisher or date" in added[1].warnings[0]  # the .docx has only a title
    rows = {row["doc_id"]: row for row in list_documents(settings)}
    assert rows["night-bus"]["publisher"] == "Harm Reduction Network" and rows["night-bus"]["year"] == 2022
    assert all(row["passages"] > 0 for row in rows.values()) and set(SEEDS) <= set(rows)
    assert main(["docs", "--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)]) == 0
    out = capsys.readouterr().out
    assert "night-bus" in out and "Harm Reduction Network" in out


def _state(settings):
    files = sorted((p.name, p.read_bytes()) for p in settings.corpus_dir.iterdir())
    return files, current_build(settings.index_dir)


BAD_INPUTS = {
    "encrypted.pdf": ("is encrypted", lambda d: make_encrypted_pdf(d / "encrypted.pdf", make_pdf(d / "plain.pdf"))),
    "scan.pdf": ("has no text layer", lambda d: make_image_only_pdf(d / "scan.pdf")),
    "empty.pdf": ("is empty", lambda d: _write(d / "empty.pdf", b"")),
    "empty.txt": ("is empty", lambda d: _write(d / "empty.txt", b"\n  \n")),
    "sheet.xlsx": ("unsupported format .xlsx", lambda d: _write(d / "sheet.xlsx", b"PK\x03\x04")),
    "huge.pdf": ("has 10,000 pages; the limit is 2,000", lambda d: make_huge_pdf(d / "huge.pdf")),
    "broken.pdf": ("is not a readable PDF", lambda d: _write(d / "broken.pdf", b"%PDF-1.4 this is not a pdf")),
    "broken.docx": ("is not a readable Word", lambda d: _write(d / "broken.docx", b"not a zip file")),
    "nav-only.html": ("no main text", lambda d: _write(d / "nav-only.html", b"<html><body><nav><a href='/'>Home</a></nav></body></html>")),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_is_refused_with_one_line_and_nothing_changes(library, tmp_path, capsys, name):
    settings, spy = library
    message, make = BAD_INPUTS[name]
    folder = tmp_path / "incoming"
    folder.mkdir()
    path = make(folder)
    state = _state(settings)
    with pytest.raises(CorpusError, match=message):
        add_documents(settings, [path], embedders=spy)
    assert _state(settings) == state
    load_index(settings.index_dir)  # still whole
    # The command line says the same in one line on stderr, exit code 2.
    assert main(["add", str(path), "--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert _state(settings) == state
    assert spy.encoded == []


def test_a_batch_with_one_bad_file_adds_none(library, tmp_path):
    settings, spy = library
    state = _state(settings)
    good, bad = make_html(tmp_path / "night-bus.html"), make_image_only_pdf(tmp_path / "scan.pdf")
    with pytest.raises(CorpusError, match="no text layer"):
        add_documents(settings, [good, bad], embedders=spy)
    assert _state(settings) == state


def test_a_failed_rebuild_takes_the_copied_files_out(library, tmp_path, monkeypatch):
    settings, spy = library
    state = _state(settings)

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("assistant.store.backends.faiss.LexicalIndex.save", fail)
    with pytest.raises(RuntimeError):
        add_documents(settings, [make_html(tmp_path / "night-bus.html")], embedders=spy)
    assert _state(settings) == state
    with pytest.raises(RuntimeError):
        remove_document(settings, SEEDS[0], embedders=spy)
    assert _state(settings) == state
    assert not (settings.index_dir / "JOURNAL").exists()
    assert [p.name for p in settings.index_dir.glob("build-*")] == [current_build(settings.index_dir).name]


def test_duplicates_and_taken_ids_are_refused(library, tmp_path):
    settings, spy = library
    copy = tmp_path / "same-content.txt"
    shutil.copyfile(settings.corpus_dir / f"{SEEDS[0]}.txt", copy)
    with pytest.raises(CorpusError, match=rf"already in the collection as '{SEEDS[0]}' \(same content\)"):
        add_documents(settings, [copy], embedders=spy)
    taken = _write(tmp_path / f"{SEEDS[1]}.md", b"# Other text\n\nSomething else entirely.\n")
    with pytest.raises(CorpusError, match="already has a document with id"):
        add_documents(settings, [taken], embedders=spy)
    pdf = make_pdf(tmp_path / "a.pdf")
    with pytest.raises(CorpusError, match="same content"):
        add_documents(settings, [pdf, _write(tmp_path / "b.pdf", pdf.read_bytes())], embedders=spy)


def test_flags_are_checked_and_override_the_file(library, tmp_path):
    settings, spy = library
    page = make_html(tmp_path / "night-bus.html")
    with pytest.raises(CorpusError, match="--date"):
        add_documents(settings, [page], date="14 Sept 2022", embedders=spy)
    with pytest.raises(CorpusError, match="one document"):
        add_documents(settings, [page, make_pdf(tmp_path / "r.pdf")], title="One title", embedders=spy)
    added, _ = add_documents(settings, [page], title="Night bus", date="2022-09", embedders=spy)
    assert (added[0].document.metadata.title, added[0].document.metadata.date) == ("Night bus", "2022-09")
    assert added[0].document.metadata.publisher == "Harm Reduction Network"  # from the page


def test_remove_unknown_or_last_document(library, tmp_path):
    settings, spy = library
    with pytest.raises(CorpusError, match="no document with id 'nope'"):
        remove_document(settings, "nope", embedders=spy)
    remove_document(settings, SEEDS[0], embedders=spy)
    with pytest.raises(CorpusError, match="last document"):
        remove_document(settings, SEEDS[1], embedders=spy)


def test_a_document_whose_file_name_is_not_its_id_is_edited_and_removed_with_its_own_sidecar(library):
    """A file dropped into the corpus by hand keeps its name: "Night Bus.txt" is the document
    night-bus, and its sidecar is "Night Bus.toml". An edit replaces that sidecar (the details it
    does not change are kept, and a full rebuild reads the same); a removal takes it out too."""
    settings, spy = library
    corpus = settings.corpus_dir
    (corpus / "Night Bus.txt").write_text("Night bus\n\nThe night bus to the clinic runs on Fridays.\n", encoding="utf-8")
    (corpus / "Night Bus.toml").write_text('title = "Night bus"\npublisher = "Outreach NGO"\ndate = "2021"\n',
                                           encoding="utf-8")
    build_index(settings, spy, progress=False)
    edited = edit_document(settings, "night-bus", {"date": "2023"}, embedders=spy).documents["night-bus"].metadata
    assert (edited.title, edited.publisher, edited.date, edited.year) == ("Night bus", "Outreach NGO", "2023", 2023)
    assert sorted(p.name for p in corpus.iterdir() if "night" in p.name.lower()) == ["Night Bus.toml", "Night Bus.txt"]
    assert build_index(settings, spy, progress=False).documents["night-bus"].metadata == edited
    remove_document(settings, "night-bus", embedders=spy)
    assert not [p.name for p in corpus.iterdir() if "night" in p.name.lower()]


def test_a_document_dropped_into_the_corpus_gets_in_with_a_warning(library, tmp_path, caplog):
    settings, spy = library
    pdf = make_pdf(settings.corpus_dir / "dropped.pdf", title=None)
    with caplog.at_level(logging.WARNING):
        index = build_index(settings, spy, progress=False)
    assert "dropped" in index.documents and index.documents["dropped"].pages
    assert "no metadata" in caplog.text
    assert pdf.is_file()


def test_the_api_and_page_show_an_added_document_without_a_restart(library, tmp_path, embedders):
    settings, spy = library
    client = TestClient(create_app(Assistant(load_index(settings.index_dir), embedders, settings)))
    assert {d["doc_id"] for d in client.get("/api/documents").json()} == set(SEEDS)
    add_documents(settings, [make_pdf(tmp_path / "field-report.pdf")], embedders=spy)
    listed = {d["doc_id"]: d for d in client.get("/api/documents").json()}
    assert listed["field-report"]["title"] == PDF_TITLE and listed["field-report"]["passages"] > 0
    assert PDF_TITLE in client.get("/").text
    answer = client.post("/api/ask", json={"question": "Were migrants without propiska tested free of charge?", "k": 1}).json()
    citation = answer["results"][0]["citation"]
    assert (citation["doc_id"], citation["page"]) == ("field-report", 2)
    served = client.get("/api/documents/field-report").json()
    assert served["text"][citation["start"] : citation["end"]] == answer["results"][0]["text"]
    assert len(served["pages"]) == 3 and served["pages"][1] <= citation["start"] < served["pages"][2]
    remove_document(settings, "field-report", embedders=spy)
    assert client.get("/api/documents/field-report").status_code == 404
