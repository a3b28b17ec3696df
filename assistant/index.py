"""The index on disk: built in a fresh folder, switched to atomically, loaded without re-embedding.

Layout (see index/README.md): `index/CURRENT` names the build in use, `index/build-*/` hold the
files. A build is written completely, fsynced, and only then `CURRENT` is replaced (an atomic
rename), so a crash or a kill at any moment leaves the previous index loadable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

import numpy as np

from .chunking import Passage, chunk_document
from .cleaning import Block, CleanText
from .corpus import Document, DocumentMetadata, corpus_fingerprint, load_corpus
from .embedding import Embedder
from .errors import AssistantError, IndexCorruptError, IndexMissingError
from .search import DenseIndex, LexicalIndex, tokenize
from .settings import Settings

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
MANIFEST = "manifest.json"
DOCUMENTS = "documents.json"
PASSAGES = "passages.jsonl"
VECTORS = "vectors.faiss"
SENTENCE_INDEX = "sentences.faiss"
LEXICAL = "lexical"
REBUILD_HINT = "run `assistant index` to rebuild it"


@dataclass
class Index:
    path: Path
    manifest: dict
    documents: dict[str, Document]
    passages: list[Passage]
    dense: DenseIndex
    sentence_dense: DenseIndex
    lexical: LexicalIndex
    sentence_vectors: np.ndarray
    """Every sentence's vector (a view of `sentence_dense`), to pick highlights."""
    sentence_rows: list[range]
    """The rows of `sentence_vectors` that hold each passage's sentences."""
    sentence_passage: np.ndarray
    """The passage each sentence row belongs to."""

    @cached_property
    def passage_counts(self) -> Counter:
        """Passages per document id."""
        return Counter(passage.doc_id for passage in self.passages)


def passage_embedding_text(document: Document, passage: Passage) -> str:
    """What the model sees for a passage: the text alone. Prefixing the section or the title
    lowered dense Hit@1 on the dev split (0.51 -> 0.45 -> 0.44), so they are left to BM25."""
    return passage.text


def passage_lexical_text(document: Document, passage: Passage) -> str:
    return " ".join(filter(None, [document.metadata.title, passage.section, passage.text]))


def model_fingerprint(embedder: Embedder) -> dict:
    return {"name": embedder.name, "fingerprint": embedder.fingerprint[:16]}


def expected_manifest(settings: Settings, embedder: Embedder) -> dict:
    """The manifest fields that must match for an index to be up to date."""
    return {
        "format_version": FORMAT_VERSION,
        "model": model_fingerprint(embedder),
        "corpus_fingerprint": corpus_fingerprint(settings.corpus_dir),
        "chunking": settings.chunking_fingerprint(),
    }


def stale_reasons(manifest: dict, expected: dict) -> list[str]:
    reasons = []
    if manifest.get("format_version") != expected["format_version"]:
        reasons.append(f"it has format version {manifest.get('format_version')}, this program reads {FORMAT_VERSION}")
    if manifest.get("model") != expected["model"]:
        reasons.append(f"it was built with model {manifest.get('model', {}).get('name')}, the setting is {expected['model']['name']}")
    if manifest.get("corpus_fingerprint") != expected["corpus_fingerprint"]:
        reasons.append("the corpus changed since it was built")
    if manifest.get("chunking") != expected["chunking"]:
        reasons.append("the chunking settings changed")
    return reasons


def build_index(settings: Settings, embedder: Embedder, *, progress: bool = True) -> Index:
    """Read, clean, chunk, embed and index the corpus, then switch `index/` to the new build."""
    started = time.perf_counter()
    fingerprint = corpus_fingerprint(settings.corpus_dir)
    documents = load_corpus(settings.corpus_dir, settings.extraction_limits)
    passages: list[Passage] = []
    for document in documents:
        passages.extend(
            chunk_document(document, settings.chunk_target_chars, settings.chunk_max_chars, first_id=len(passages))
        )
    by_id = {document.doc_id: document for document in documents}
    if len(by_id) != len(documents):
        raise AssistantError("two corpus files map to the same document id: rename one of them")

    vectors = embedder.encode(
        [passage_embedding_text(by_id[p.doc_id], p) for p in passages], progress=progress, description="passages"
    )
    sentence_texts = [p.text[s:e] for p in passages for s, e in p.sentences]
    sentence_vectors = embedder.encode(sentence_texts, progress=progress, description="sentences")
    dense = DenseIndex.build(vectors, settings.faiss_index_type, settings.hnsw_threshold)
    sentence_dense = DenseIndex.build(sentence_vectors, settings.faiss_index_type, settings.hnsw_threshold)
    lexical = LexicalIndex.build([tokenize(passage_lexical_text(by_id[p.doc_id], p)) for p in passages])

    manifest = {
        "format_version": FORMAT_VERSION,
        "model": model_fingerprint(embedder),
        "corpus_fingerprint": fingerprint,
        "chunking": settings.chunking_fingerprint(),
        "dense_index": type(dense.faiss).__name__,
        "dimension": int(vectors.shape[1]),
        "documents": len(documents),
        "passages": len(passages),
        "sentences": len(sentence_texts),
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    index_dir = settings.index_dir
    with _build_lock(index_dir):
        build_dir = _write_build(index_dir, manifest, documents, passages, dense, sentence_dense, lexical)
        _switch_current(index_dir, build_dir)
        _remove_old_builds(index_dir, keep=build_dir.name)
    log.info("indexed %d documents, %d passages in %.1f s", len(documents), len(passages), manifest["build_seconds"])
    return load_index(index_dir)


def current_build(index_dir: Path) -> Path:
    pointer = index_dir / CURRENT_FILE
    if not pointer.is_file():
        raise IndexMissingError(f"no index in {index_dir}: {REBUILD_HINT}")
    name = pointer.read_text(encoding="utf-8").strip()
    build = index_dir / name
    if not name or "/" in name or not build.is_dir():
        raise IndexCorruptError(f"the index in {index_dir} points to a missing build {name!r}: {REBUILD_HINT}")
    return build


def load_manifest(index_dir: Path) -> dict:
    build = current_build(index_dir)
    try:
        manifest = json.loads((build / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise IndexCorruptError(f"the index manifest in {build} is unreadable ({_short(error)}): {REBUILD_HINT}") from None
    if not isinstance(manifest, dict):
        raise IndexCorruptError(f"the index manifest in {build} is not an object: {REBUILD_HINT}")
    return manifest


def load_index(index_dir: Path) -> Index:
    """Load the current build; any missing or damaged file is reported as such, never a crash."""
    manifest = load_manifest(index_dir)
    build = current_build(index_dir)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexCorruptError(
            f"the index in {index_dir} has format version {manifest.get('format_version')}, "
            f"this program reads {FORMAT_VERSION}: {REBUILD_HINT}"
        )
    try:
        documents = {d.doc_id: d for d in map(_document_from_json, json.loads((build / DOCUMENTS).read_text("utf-8")))}
        with (build / PASSAGES).open(encoding="utf-8") as lines:
            passages = [_passage_from_json(json.loads(line)) for line in lines if line.strip()]
        dense = DenseIndex.load(build / VECTORS)
        sentence_dense = DenseIndex.load(build / SENTENCE_INDEX)
        lexical = LexicalIndex.load(build / LEXICAL)
        sentence_vectors = sentence_dense.vectors()
    except Exception as error:  # every way a damaged file can fail to parse
        raise IndexCorruptError(f"the index in {build} is damaged ({_short(error)}): {REBUILD_HINT}") from None

    rows, first = [], 0
    for passage in passages:
        rows.append(range(first, first + len(passage.sentences)))
        first += len(passage.sentences)
    sentence_passage = np.repeat(np.arange(len(passages)), [len(p.sentences) for p in passages])
    problems = []
    if len(passages) != manifest.get("passages") or len(dense) != len(passages):
        problems.append(f"{len(passages)} passages, {len(dense)} vectors, manifest says {manifest.get('passages')}")
    if first != len(sentence_dense):
        problems.append(f"{first} sentences but {len(sentence_dense)} sentence vectors")
    if int(lexical.bm25.scores["num_docs"]) != len(passages):
        problems.append("the lexical index does not match the passages")
    if any(p.doc_id not in documents or p.text != documents[p.doc_id].text[p.start : p.end] for p in passages):
        problems.append("passage text does not match its document")
    if problems:
        raise IndexCorruptError(f"the index in {build} is inconsistent ({'; '.join(problems)}): {REBUILD_HINT}")
    return Index(build, manifest, documents, passages, dense, sentence_dense, lexical, sentence_vectors, rows,
                 sentence_passage)


def _short(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:160]


def _document_to_json(document: Document) -> dict:
    return {
        "doc_id": document.doc_id,
        "metadata": dataclasses.asdict(document.metadata),
        "text": document.text,
        "blocks": [[b.kind, b.start, b.end, b.level, b.page_break_before] for b in document.clean.blocks],
        "path": document.path.name,
        "sha256": document.sha256,
        "pages": list(document.pages),
    }


def _document_from_json(data: dict) -> Document:
    blocks = tuple(Block(kind, start, end, level, page_break) for kind, start, end, level, page_break in data["blocks"])
    return Document(
        doc_id=data["doc_id"],
        metadata=DocumentMetadata(**data["metadata"]),
        text=data["text"],
        clean=CleanText(data["text"], blocks),
        path=Path(data["path"]),
        sha256=data["sha256"],
        pages=tuple(data.get("pages", ())),
    )


def _passage_to_json(passage: Passage) -> dict:
    return {
        "id": passage.passage_id,
        "doc_id": passage.doc_id,
        "section": passage.section,
        "start": passage.start,
        "end": passage.end,
        "text": passage.text,
        "sentences": passage.sentences,
    }


def _passage_from_json(data: dict) -> Passage:
    return Passage(
        passage_id=data["id"],
        doc_id=data["doc_id"],
        section=data["section"],
        start=data["start"],
        end=data["end"],
        text=data["text"],
        sentences=tuple((s, e) for s, e in data["sentences"]),
    )


@contextlib.contextmanager
def _build_lock(index_dir: Path):
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK_FILE, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AssistantError(f"another `assistant index` is writing {index_dir}: wait for it to finish") from None
        yield


def _write_build(index_dir, manifest, documents, passages, dense, sentence_dense, lexical) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    final = index_dir / f"build-{stamp}-{uuid.uuid4().hex[:8]}"
    partial = index_dir / f"{final.name}.partial"
    partial.mkdir(parents=True)
    _write_text(partial / DOCUMENTS, json.dumps([_document_to_json(d) for d in documents], ensure_ascii=False))
    _write_text(partial / PASSAGES, "".join(json.dumps(_passage_to_json(p), ensure_ascii=False) + "\n" for p in passages))
    dense.save(partial / VECTORS)
    sentence_dense.save(partial / SENTENCE_INDEX)
    lexical.save(partial / LEXICAL)
    _write_text(partial / MANIFEST, json.dumps(manifest, indent=2))
    for path in partial.rglob("*"):
        if path.is_file():
            _fsync(path)
    partial.rename(final)
    _fsync_dir(index_dir)
    return final


def _switch_current(index_dir: Path, build: Path) -> None:
    pointer = index_dir / f"{CURRENT_FILE}.tmp"
    _write_text(pointer, build.name + "\n")
    _fsync(pointer)
    os.replace(pointer, index_dir / CURRENT_FILE)
    _fsync_dir(index_dir)


def _remove_old_builds(index_dir: Path, keep: str) -> None:
    for path in index_dir.glob("build-*"):
        if path.name != keep and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
