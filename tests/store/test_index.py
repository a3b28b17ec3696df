import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import CORPUS, RecordingEmbedder

from assistant.errors import IndexCorruptError, IndexMissingError, IndexStaleError
from assistant.ingest.chunking import CHUNKING_VERSION
from assistant.query.assistant import Assistant
from assistant.settings import Settings
from assistant.store.backends import LexicalIndex
from assistant.store.build import build_index
from assistant.store.index import load_index
from assistant.store.layout import CURRENT_FILE, current_build, manifest_checksum


@pytest.fixture
def small(tmp_path, embedders):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "alpha.txt").write_text("Alpha report\n\nSex work was decriminalised in 2001. Police raids continue.\n", encoding="utf-8")
    (corpus / "beta.txt").write_text("Beta note\n\nThere are 33 friendly cabinets across the country.\n", encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    build_index(settings, embedders, progress=False)
    return settings


def test_round_trip_loads_what_was_built(index, settings):
    loaded = load_index(settings.index_dir)
    assert loaded.passages == index.passages
    assert loaded.manifest == index.manifest
    for space in index.spaces:
        for unit in ("passage", "sentence"):
            rows = range(len(index.passages) if unit == "passage" else len(index.sentence_passage))
            assert np.array_equal(loaded.backend.vectors(space, unit, rows), index.backend.vectors(space, unit, rows))
    query = index.backend.vectors("english", "sentence", [0])[0]
    assert loaded.backend.search_dense("english", "passage", query, 5) == index.backend.search_dense("english", "passage", query, 5)
    assert loaded.backend.search_lexical(["condom"], 5) == index.backend.search_lexical(["condom"], 5)
    assert {d: doc.text for d, doc in loaded.documents.items()} == {d: doc.text for d, doc in index.documents.items()}


def test_manifest_records_model_corpus_and_chunking(index):
    manifest = index.manifest
    assert manifest["models"]["english"]["name"] == "all-MiniLM-L6-v2"
    assert manifest["chunking"] == {"chunk_target_chars": index.manifest["chunking"]["chunk_target_chars"],
                                    "chunk_max_chars": index.manifest["chunking"]["chunk_max_chars"],
                                    "version": CHUNKING_VERSION}
    assert manifest["skipped"] == []
    assert len(manifest["corpus_fingerprint"]) == 64
    assert manifest["passages"] == len(index.passages)


def test_loading_an_up_to_date_index_never_re_embeds(index, settings, embedders):
    recording = {space: RecordingEmbedder(embedder) for space, embedder in embedders.items()}
    Assistant.open(settings, embedders=recording)
    assert not any(spy.passages or spy.queries for spy in recording.values())


def test_a_changed_corpus_makes_the_index_stale(small, embedders):
    (small.corpus_dir / "gamma.txt").write_text("Gamma\n\nA new document.\n", encoding="utf-8")
    with pytest.raises(IndexStaleError, match="corpus changed.*assistant index"):
        Assistant.open(small, embedders=embedders)
    rebuilt = Assistant.open(small, rebuild="stale", embedders=embedders)
    assert "gamma" in rebuilt.index.documents


def test_changed_chunking_settings_make_the_index_stale(small, embedders):
    changed = small.model_copy(update={"chunk_target_chars": small.chunk_target_chars + 1})
    with pytest.raises(IndexStaleError, match="chunking settings changed"):
        Assistant.open(changed, embedders=embedders)


def test_an_interrupted_build_keeps_the_last_good_index(small, embedders, monkeypatch):
    before = current_build(small.index_dir)
    (small.corpus_dir / "gamma.txt").write_text("Gamma\n\nA new document.\n", encoding="utf-8")

    def crash(self, path):
        raise RuntimeError("disk full")

    monkeypatch.setattr(LexicalIndex, "save", crash)
    with pytest.raises(RuntimeError):
        build_index(small, embedders, progress=False)
    assert current_build(small.index_dir) == before
    assert "gamma" not in load_index(small.index_dir).documents
    monkeypatch.undo()
    build_index(small, embedders, progress=False)
    assert [p.name for p in small.index_dir.glob("build-*")] == [current_build(small.index_dir).name]


def test_kill_9_during_a_build_keeps_the_previous_index_loadable(index, settings, tmp_path):
    """A real `assistant index` process, killed while it embeds."""
    index_dir = tmp_path / "index"
    build = subprocess.run([sys.executable, "-m", "assistant.cli", "index", "--corpus", str(CORPUS), "--index", str(index_dir)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    before = current_build(index_dir)
    env = {**os.environ, "ASSISTANT_CHUNK_TARGET_CHARS": "250"}
    process = subprocess.Popen([sys.executable, "-m", "assistant.cli", "index", "--corpus", str(CORPUS), "--index", str(index_dir)],
                               env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    seen = ""
    while "passages:" not in seen and time.monotonic() < deadline:
        seen += process.stderr.read(1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert current_build(index_dir) == before
    assert len(load_index(index_dir).passages) == len(index.passages)


def test_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexMissingError, match="assistant index"):
        load_index(tmp_path / "nothing")


@pytest.mark.parametrize(
    "damage",
    [
        lambda build: (build / "dense-english-passages.faiss").write_bytes((build / "dense-english-passages.faiss").read_bytes()[:100]),
        lambda build: (build / "passages.jsonl").unlink(),
        lambda build: (build / "passages.jsonl").write_text("{not json\n"),
        lambda build: (build / "dense-english-sentences.faiss").write_bytes(b"garbage"),
        lambda build: (build / "documents.json").write_text("[]"),
        lambda build: (build / "manifest.json").write_text("{"),
        lambda build: [p.unlink() for p in (build / "lexical").iterdir()],
        lambda build: (build.parent / CURRENT_FILE).write_text("build-that-does-not-exist"),
        lambda build: (build / "latent-terms-multilingual-passages.npz").unlink(),
        lambda build: (build / "latent-terms-multilingual-sentences.npz").write_bytes(b"PK\x03\x04 garbage"),
    ],
)
def test_damaged_index_files_give_a_clear_message(small, damage):
    damage(current_build(small.index_dir))
    with pytest.raises(IndexCorruptError, match="rebuild"):
        load_index(small.index_dir)


def _rewrite_manifest(index_dir, change) -> None:
    """Edit the manifest as another program version or model would have written it (signed)."""
    manifest_path = current_build(index_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    change(manifest)
    manifest["checksum"] = manifest_checksum(manifest)
    manifest_path.write_text(json.dumps(manifest))


def test_an_index_of_another_format_version_is_refused(small):
    _rewrite_manifest(small.index_dir, lambda manifest: manifest.update(format_version=999))
    with pytest.raises(IndexCorruptError, match="format version 999"):
        load_index(small.index_dir)


def test_latent_terms_are_kept_for_every_passage_and_sentence(index):
    """The multilingual space's latent terms: one unit row for every passage and sentence, in
    the build beside the backend's files, named in the manifest."""
    assert index.manifest["latent_terms"] == ["multilingual"]
    passages, sentences = index.latent_terms["multilingual"]["passage"], index.latent_terms["multilingual"]["sentence"]
    assert passages.shape[0] == len(index.passages) and sentences.shape[0] == len(index.sentence_passage)
    norms = np.sqrt(np.asarray(passages.multiply(passages).sum(axis=1)).ravel())
    assert np.allclose(norms, 1.0, atol=1e-4)
    assert (passages.getnnz(axis=1) <= 256).all() and (passages.getnnz(axis=1) > 0).all()


def test_an_index_without_latent_terms_is_stale_when_they_are_wanted(small, embedders):
    _rewrite_manifest(small.index_dir, lambda m: m.update(latent_terms=[]))
    with pytest.raises(IndexStaleError, match="latent"):
        Assistant.open(small, embedders=embedders)
    assert Assistant.open(small.model_copy(update={"latent_terms": False}), embedders=embedders).index.latent_terms == {}


def test_an_index_built_by_another_model_is_stale(small, embedders):
    _rewrite_manifest(small.index_dir, lambda m: m["models"].update(english={"name": "other-model", "fingerprint": "0"}))
    with pytest.raises(IndexStaleError, match="other-model"):
        Assistant.open(small, embedders=embedders)
