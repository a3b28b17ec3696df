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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import numpy as np

from .backends import BackendStore, Change, IndexData, PendingWrite, RetrievalBackend, create_store
from .calibration import Calibration
from .chunking import Passage, chunk_document
from .cleaning import Block, CleanText
from .corpus import Document, DocumentMetadata, corpus_fingerprint, load_corpus
from .embedding import Embedder
from .errors import AssistantError, IndexCorruptError, IndexMissingError
from .tokens import tokenize
from .settings import Settings

log = logging.getLogger(__name__)

FORMAT_VERSION = 4
CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
MANIFEST = "manifest.json"
DOCUMENTS = "documents.json"
PASSAGES = "passages.jsonl"
REBUILD_HINT = "run `assistant index` to rebuild it"
DERIVED_CACHE_ENTRIES = 200_000
"""How many derived passage facts `Index.derived` keeps before starting afresh."""
T = TypeVar("T")


@dataclass
class Index:
    """One loaded build: the documents and passages, and the backend that searches them."""

    path: Path
    manifest: dict
    documents: dict[str, Document]
    passages: list[Passage]
    backend: RetrievalBackend
    sentence_rows: list[range]
    """The sentence rows (in the backend's sentence vectors) of each passage."""
    sentence_passage: np.ndarray
    """The passage each sentence row belongs to."""

    @cached_property
    def passage_counts(self) -> Counter:
        """Passages per document id."""
        return Counter(passage.doc_id for passage in self.passages)

    @property
    def spaces(self) -> list[str]:
        """The vector spaces (models) this build holds, e.g. ["english"]."""
        return list(self.manifest["models"])

    @cached_property
    def languages(self) -> frozenset[str]:
        """The languages its documents are written in."""
        return frozenset(document.language for document in self.documents.values())

    @cached_property
    def _derived(self) -> dict[tuple[str, int], object]:
        return {}

    def derived(self, kind: str, row: int, make: Callable[[], T]) -> T:
        """What `make` derives from passage `row` (its `kind`), computed once per build and kept:
        what answering asks of the same passage on every question (tokens, cues). At most
        `DERIVED_CACHE_ENTRIES` are kept; past that the memo starts afresh."""
        key = (kind, row)
        found = self._derived.get(key)
        if found is None:
            if len(self._derived) >= DERIVED_CACHE_ENTRIES:
                self._derived.clear()
            found = self._derived[key] = make()
        return found  # type: ignore[return-value]

    def sentence_tokens(self, row: int) -> tuple[frozenset[str], ...]:
        """The lexical token set of each sentence of passage `row`, tokenized in its document's
        language (the highlight and the ranker ask for them on every answer)."""
        def make() -> tuple[frozenset[str], ...]:
            passage = self.passages[row]
            language = self.documents[passage.doc_id].language
            return tuple(frozenset(tokenize(passage.text[s:e], language)) for s, e in passage.sentences)

        return self.derived("sentence tokens", row, make)


def passage_embedding_text(document: Document, passage: Passage) -> str:
    """What the model sees for a passage: the text alone. Prefixing the section or the title
    lowered dense Hit@1 on the dev split (0.51 -> 0.45 -> 0.44), so they are left to BM25."""
    return passage.text


def passage_lexical_text(document: Document, passage: Passage) -> str:
    return " ".join(filter(None, [document.metadata.title, passage.section, passage.text]))


def passage_tokens(document: Document, passage: Passage) -> list[str]:
    """What BM25 indexes of a passage: its document's title, its section and its text, tokenized
    in the document's language."""
    return tokenize(passage_lexical_text(document, passage), document.language)


def model_fingerprints(embedders: dict[str, Embedder]) -> dict[str, dict]:
    """Per vector space, the model's name and fingerprint, as the manifest records them."""
    return {space: {"name": embedder.name, "fingerprint": embedder.fingerprint[:16]} for space, embedder in embedders.items()}


def expected_manifest(settings: Settings, embedders: dict[str, Embedder]) -> dict:
    """The manifest fields that must match for an index to be up to date."""
    return {
        "format_version": FORMAT_VERSION,
        "models": model_fingerprints(embedders),
        "corpus_fingerprint": corpus_fingerprint(settings.corpus_dir),
        "chunking": settings.chunking_fingerprint(),
    }


def stale_reasons(manifest: dict, expected: dict) -> list[str]:
    """Why an index with `manifest` cannot serve settings that expect `expected`; empty if it can."""
    reasons = []
    if manifest.get("format_version") != expected["format_version"]:
        reasons.append(f"it has format version {manifest.get('format_version')}, this program reads {FORMAT_VERSION}")
    built, wanted = manifest.get("models") or {}, expected["models"]
    for space in sorted(set(built) | set(wanted)):
        if built.get(space) != wanted.get(space):
            reasons.append(f"its {space} model is {(built.get(space) or {}).get('name', 'none')}, "
                           f"the setting is {(wanted.get(space) or {}).get('name', 'none')}")
    if manifest.get("corpus_fingerprint") != expected["corpus_fingerprint"]:
        reasons.append("the corpus changed since it was built")
    if manifest.get("chunking") != expected["chunking"]:
        reasons.append("the chunking settings changed")
    return reasons


def build_index(settings: Settings, embedders: dict[str, Embedder], *, progress: bool = True,
                change: Change | None = None) -> Index:
    """Read, clean, chunk, embed and index the corpus, then switch `index/` to the new build.
    `change` (documents added or removed since the build in use) lets a backend that can update in
    place do only that."""
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

    passage_texts = [passage_embedding_text(by_id[p.doc_id], p) for p in passages]
    sentence_texts = [p.text[s:e] for p in passages for s, e in p.sentences]
    data = IndexData(passages=passages, tokens=[passage_tokens(by_id[p.doc_id], p) for p in passages])
    for space, embedder in embedders.items():
        label = "" if len(embedders) == 1 else f"{space} "
        data.vectors[space] = {
            "passage": embedder.encode_passages(passage_texts, progress=progress, description=f"{label}passages"),
            "sentence": embedder.encode_passages(sentence_texts, progress=progress, description=f"{label}sentences"),
        }
    calibration, warnings = Calibration.load(settings.calibration_file).for_models(model_fingerprints(embedders))
    for warning in warnings:
        log.warning(warning)
    manifest = {
        **expected_manifest(settings, embedders),
        "calibration": calibration.describe(),
        "corpus_fingerprint": fingerprint,
        "documents": len(documents),
        "passages": len(passages),
        "sentences": len(sentence_texts),
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    index_dir = settings.index_dir
    store = create_store(settings)
    with _build_lock(index_dir):
        current = _current_backend(index_dir, store)
        build_dir, pending = _write_build(index_dir, manifest, documents, passages, store, data, current,
                                          change if current is not None else None)
        try:
            _switch_current(index_dir, build_dir)
        except BaseException:
            pending.rollback()
            shutil.rmtree(build_dir, ignore_errors=True)
            raise
        pending.commit()
        _remove_old_builds(index_dir, store, keep=build_dir.name, kept=pending.description)
    log.info("indexed %d documents, %d passages in %.1f s", len(documents), len(passages), manifest["build_seconds"])
    return load_index(index_dir, settings)


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


def load_index(index_dir: Path, settings: Settings | None = None) -> Index:
    """Load the current build; any missing or damaged file is reported as such, never a crash.
    `settings` configure the backend's connection (e.g. the Milvus address); by default, the
    environment's."""
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
        description = manifest["backend"]
        backend = create_store(settings or Settings(), description["name"]).open(build, description, passages)
    except AssistantError:  # said by the backend, with what to do (e.g. an unreachable Milvus)
        raise
    except Exception as error:  # every way a damaged file can fail to parse
        raise IndexCorruptError(f"the index in {build} is damaged ({_short(error)}): {REBUILD_HINT}") from None

    rows, first = [], 0
    for passage in passages:
        rows.append(range(first, first + len(passage.sentences)))
        first += len(passage.sentences)
    sentence_passage = np.repeat(np.arange(len(passages)), [len(p.sentences) for p in passages])
    problems = [] if len(passages) == manifest.get("passages") else [
        f"{len(passages)} passages, manifest says {manifest.get('passages')}"]
    problems += backend.verify(len(passages), first)
    if any(p.doc_id not in documents or p.text != documents[p.doc_id].text[p.start : p.end] for p in passages):
        problems.append("passage text does not match its document")
    if problems:
        raise IndexCorruptError(f"the index in {build} is inconsistent ({'; '.join(problems)}): {REBUILD_HINT}")
    return Index(build, manifest, documents, passages, backend, rows, sentence_passage)


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


def _current_backend(index_dir: Path, store: BackendStore) -> dict | None:
    """The backend description of the build in use, when it was written by the same store."""
    try:
        description = load_manifest(index_dir).get("backend") or {}
    except (IndexMissingError, IndexCorruptError):
        return None
    return description if description.get("name") == store.name else None


def _write_build(index_dir: Path, manifest: dict, documents: list[Document], passages: list[Passage],
                 store: BackendStore, data: IndexData, current: dict | None,
                 change: Change | None) -> tuple[Path, PendingWrite]:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    final = index_dir / f"build-{stamp}-{uuid.uuid4().hex[:8]}"
    partial = index_dir / f"{final.name}.partial"
    partial.mkdir(parents=True)
    pending = None
    try:
        _write_text(partial / DOCUMENTS, json.dumps([_document_to_json(d) for d in documents], ensure_ascii=False))
        _write_text(partial / PASSAGES, "".join(json.dumps(_passage_to_json(p), ensure_ascii=False) + "\n" for p in passages))
        pending = store.write(data, partial, current=current, change=change)
        manifest = {**manifest, "backend": pending.description}
        _write_text(partial / MANIFEST, json.dumps(manifest, indent=2))
        for path in partial.rglob("*"):
            if path.is_file():
                _fsync(path)
        partial.rename(final)
        _fsync_dir(index_dir)
    except BaseException:
        if pending is not None:
            pending.rollback()
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final, pending


def _switch_current(index_dir: Path, build: Path) -> None:
    pointer = index_dir / f"{CURRENT_FILE}.tmp"
    _write_text(pointer, build.name + "\n")
    _fsync(pointer)
    os.replace(pointer, index_dir / CURRENT_FILE)
    _fsync_dir(index_dir)


def _remove_old_builds(index_dir: Path, store: BackendStore, *, keep: str, kept: dict) -> None:
    """Every build but `keep`, and what its backend alone holds (`kept` describes the one in use)."""
    for path in index_dir.glob("build-*"):
        if path.name == keep or not path.is_dir():
            continue
        try:
            description = json.loads((path / MANIFEST).read_text(encoding="utf-8")).get("backend") or {}
        except (OSError, ValueError, AttributeError):
            description = {}
        if description.get("name") == store.name:
            try:
                store.discard(description, keep=kept)
            except Exception as error:  # an old generation left behind is not worth failing a build for
                log.warning("could not free the backend data of the old build %s: %s", path.name, error)
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
