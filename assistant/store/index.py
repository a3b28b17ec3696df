"""A loaded index build: its documents, passages and retrieval backend (`load_index`), and whether
an index on disk can serve the settings as they are (`stale_reasons`). Builds are written by
`build.py`; the on-disk layout and its checks are `layout.py`'s."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import numpy as np
from scipy import sparse as scipy_sparse

from assistant.embedding import Embedder
from assistant.embedding.sparse import gives_sparse
from assistant.errors import AssistantError, IndexCorruptError
from assistant.i18n import Message
from assistant.ingest.chunking import Passage
from assistant.ingest.cleaning import Block, CleanText
from assistant.ingest.corpus import Document, DocumentMetadata, Overlay, corpus_fingerprint, safe_url
from assistant.settings import Settings
from assistant.store.backends import RetrievalBackend, create_store
from assistant.store.backends.base import Unit
from assistant.store.layout import (
    DOCUMENTS,
    FORMAT_VERSION,
    LATENT_TERMS,
    PASSAGES,
    REBUILD_HINT,
    current_build,
    load_manifest,
    short_error,
    verify_files,
)
from assistant.text.tokens import tokenize

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
    latent_terms: dict[str, dict[Unit, scipy_sparse.csc_matrix]] = dataclasses.field(default_factory=dict)
    """Per space whose model gives them, the passages' and sentences' latent terms (rows as above)."""

    @cached_property
    def passage_doc_ids(self) -> list[str]:
        """The document id of each passage row (what every question's time ordering looks up)."""
        return [passage.doc_id for passage in self.passages]

    @cached_property
    def skipped(self) -> list[tuple[str, Message]]:
        """The corpus files the build left out, each with why (a damaged file, one over a limit):
        named by `assistant docs` and the operator's page, so none vanishes without a trace."""
        return [(str(entry.get("file")), Message.from_json(entry.get("error"))) for entry in self.manifest.get("skipped") or []
                if isinstance(entry, dict)]

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
    def years(self) -> dict[str, int | None]:
        """Each document's year, or for an undated one the newest year its text cites (what the
        time ordering compares on every question)."""
        return {doc_id: document.year for doc_id, document in self.documents.items()}

    @cached_property
    def newest_year(self) -> int | None:
        """The newest of `years`."""
        return max((year for year in self.years.values() if year), default=None)

    @cached_property
    def token_passages(self) -> Counter:
        """How many passages use each lexical token: which question words the collection never
        writes, and how rare the others are (what the answerability model weighs)."""
        counts: Counter = Counter()
        for passage in self.passages:
            counts.update(set(tokenize(passage.text, self.documents[passage.doc_id].language)))
        return counts

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


def model_fingerprints(embedders: dict[str, Embedder]) -> dict[str, dict]:
    """Per vector space, the model's name and fingerprint, as the manifest records them."""
    return {space: {"name": embedder.name, "fingerprint": embedder.fingerprint[:16]} for space, embedder in embedders.items()}


def latent_spaces(settings: Settings, embedders: dict[str, Embedder]) -> list[str]:
    """The spaces whose passages keep their latent terms: those whose model gives them, when
    `latent_terms` is on."""
    return [space for space, embedder in embedders.items() if settings.latent_terms and gives_sparse(embedder)]


def expected_manifest(settings: Settings, embedders: dict[str, Embedder], overlay: Overlay | None = None) -> dict:
    """The manifest fields that must match for an index to be up to date."""
    return {
        "format_version": FORMAT_VERSION,
        "models": model_fingerprints(embedders),
        "corpus_fingerprint": corpus_fingerprint(settings.corpus_dir, overlay),
        "chunking": settings.chunking_fingerprint(),
        "latent_terms": latent_spaces(settings, embedders),
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
    if manifest.get("latent_terms", []) != expected["latent_terms"]:
        reasons.append("it was built with other latent-terms settings (`latent_terms`)")
    return reasons


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
    damaged = verify_files(build, manifest)
    if damaged:
        raise IndexCorruptError(f"the index in {build} is damaged ({'; '.join(damaged[:3])}): {REBUILD_HINT}")
    try:
        documents = {d.doc_id: d for d in map(_document_from_json, json.loads((build / DOCUMENTS).read_text("utf-8")))}
        with (build / PASSAGES).open(encoding="utf-8") as lines:
            passages = [_passage_from_json(json.loads(line)) for line in lines if line.strip()]
        description = manifest["backend"]
        backend = create_store(settings or Settings(), description["name"]).open(build, description, passages)
        latent: dict[str, dict[Unit, scipy_sparse.csc_matrix]] = {
            space: {unit: scipy_sparse.load_npz(build / LATENT_TERMS.format(space=space, unit=unit)).tocsc()
                    for unit in ("passage", "sentence")}
            for space in manifest.get("latent_terms", [])}
    except AssistantError:  # said by the backend, with what to do (e.g. an unreachable Milvus)
        raise
    except Exception as error:  # every way a damaged file can fail to parse
        raise IndexCorruptError(f"the index in {build} is damaged ({short_error(error)}): {REBUILD_HINT}") from None

    rows, first = [], 0
    for passage in passages:
        rows.append(range(first, first + len(passage.sentences)))
        first += len(passage.sentences)
    sentence_passage = np.repeat(np.arange(len(passages)), [len(p.sentences) for p in passages])
    problems = [] if len(passages) == manifest.get("passages") else [
        f"{len(passages)} passages, manifest says {manifest.get('passages')}"]
    problems += backend.verify(len(passages), first)
    problems += [f"the {space} {unit} latent terms have {matrix.shape[0]} rows" for space, units in latent.items()
                 for unit, matrix in units.items() if matrix.shape[0] != (len(passages) if unit == "passage" else first)]
    if any(p.doc_id not in documents or p.text != documents[p.doc_id].text[p.start : p.end] for p in passages):
        problems.append("passage text does not match its document")
    if problems:
        raise IndexCorruptError(f"the index in {build} is inconsistent ({'; '.join(problems)}): {REBUILD_HINT}")
    return Index(build, manifest, documents, passages, backend, rows, sentence_passage, latent)


def _document_from_json(data: dict) -> Document:
    blocks = tuple(Block(kind, start, end, level, page_break) for kind, start, end, level, page_break in data["blocks"])
    metadata = DocumentMetadata(**data["metadata"])
    if metadata.url is not None and safe_url(metadata.url) is None:  # only http(s) links are ever shown
        metadata = dataclasses.replace(metadata, url=None)
    return Document(
        doc_id=data["doc_id"],
        metadata=metadata,
        text=data["text"],
        clean=CleanText(data["text"], blocks),
        path=Path(data["path"]),
        sha256=data["sha256"],
        pages=tuple(data.get("pages", ())),
    )


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
