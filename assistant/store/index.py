"""The index on disk: built in a fresh folder, switched to atomically, loaded without re-embedding.

Layout (see index/README.md): `index/CURRENT` names the build in use, `index/build-*/` hold the
files. A build is written completely, fsynced, and only then `CURRENT` is replaced (an atomic
rename), so a crash or a kill at any moment leaves the previous index loadable. Every build runs
as a transaction (`transaction.py`): one lock over the whole read-embed-write, a journal that the
next command uses to complete or roll back a change whose process died.

Damage is named, never followed: `CURRENT` must name a `build-*` folder inside the index folder
(garbage, `..`, an absolute path or a link are "damaged"), and the manifest records the size and
CRC-32 of every file of its build, and a CRC-32 of itself, checked on every load. CRC-32 (zlib,
about 4 GB/s here against 1.6 for SHA-256) is enough: it is there to catch silent corruption (a
flipped byte, a torn write), not tampering, since whoever can rewrite a file can rewrite the manifest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import numpy as np

from assistant.store.backends import BackendStore, Change, IndexData, PendingWrite, RetrievalBackend, create_store
from assistant.embedding.calibration import Calibration
from assistant.ingest.chunking import Passage, chunk_document
from assistant.ingest.cleaning import Block, CleanText
from assistant.ingest.corpus import Document, DocumentMetadata, Overlay, corpus_fingerprint, load_corpus, safe_url
from assistant.embedding import Embedder
from assistant.errors import AssistantError, IndexCorruptError, IndexMissingError
from assistant.text.tokens import tokenize
from assistant.settings import Settings
from assistant.store.transaction import JOURNAL_FILE, Journal, apply_to_corpus, begin, checkpoint, collection_lock, fsync_dir, try_lock, undo

log = logging.getLogger(__name__)

FORMAT_VERSION = 5
"""5: the manifest records the size and CRC-32 of every file and of itself."""
CURRENT_FILE = "CURRENT"
_BUILD_NAME = re.compile(r"build-[A-Za-z0-9T-]{1,64}")
_CHUNK = 1 << 22
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
    def years(self) -> dict[str, int | None]:
        """Each document's year, or for an undated one the newest year its text cites (what the
        time ordering compares on every question)."""
        return {doc_id: document.year for doc_id, document in self.documents.items()}

    @cached_property
    def newest_year(self) -> int | None:
        """The newest of `years`."""
        return max((year for year in self.years.values() if year), default=None)

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


def expected_manifest(settings: Settings, embedders: dict[str, Embedder], overlay: Overlay | None = None) -> dict:
    """The manifest fields that must match for an index to be up to date."""
    return {
        "format_version": FORMAT_VERSION,
        "models": model_fingerprints(embedders),
        "corpus_fingerprint": corpus_fingerprint(settings.corpus_dir, overlay),
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
                change: Change | None = None, wait: bool = True) -> Index:
    """Read, clean, chunk, embed and index the corpus, then switch `index/` to the new build, all
    under the collection's lock (`wait=False`: fail at once when another command holds it).
    `change` (documents added or removed since the build in use) lets a backend that can update in
    place do only that."""
    with changing(settings, "index", wait=wait):
        journal = begin(settings.index_dir, settings.corpus_dir, "index", settings.backend)
        return build_in(settings, embedders, journal, progress=progress, change=change)


@contextlib.contextmanager
def changing(settings: Settings, command: str, *, wait: bool = True) -> Iterator[None]:
    """The collection's lock for a change, with what a dead change left recovered first."""
    with collection_lock(settings.index_dir, command, wait=wait):
        recover(settings)
        checkpoint("locked")
        yield


def build_in(settings: Settings, embedders: dict[str, Embedder], journal: Journal, *, progress: bool = True,
             change: Change | None = None) -> Index:
    """Build the corpus as `journal` leaves it into the journal's build and switch to it (the lock
    held, the journal written). A failure before the switch undoes everything the change made;
    after the switch the change is completed (by the next command, if this process dies)."""
    index_dir = settings.index_dir
    store = create_store(settings)
    try:
        started = time.perf_counter()
        overlay = journal.overlay
        fingerprint = corpus_fingerprint(settings.corpus_dir, overlay)
        documents = load_corpus(settings.corpus_dir, settings.extraction_limits, overlay)
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
        checkpoint("embedded")
        calibration, warnings = Calibration.load(settings.calibration_file).for_models(model_fingerprints(embedders))
        for warning in warnings:
            log.warning(warning)
        manifest = {
            **expected_manifest(settings, embedders, overlay),
            "calibration": calibration.describe(),
            "corpus_fingerprint": fingerprint,
            "documents": len(documents),
            "passages": len(passages),
            "sentences": len(sentence_texts),
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "build_seconds": round(time.perf_counter() - started, 2),
        }
        current = _current_backend(index_dir, store)
        build_dir, pending = _write_build(index_dir, journal.build, manifest, documents, passages, store, data,
                                          current, change if current is not None else None)
        checkpoint("written")
        try:
            _switch_current(index_dir, build_dir)
        except BaseException:
            pending.rollback()
            raise
    except BaseException:
        undo(index_dir, journal)
        Journal.delete(index_dir)
        raise
    checkpoint("switched")
    pending.commit()
    _complete(settings, journal, store, pending.description)
    log.info("indexed %d documents, %d passages in %.1f s", len(documents), len(passages), manifest["build_seconds"])
    return load_index(index_dir, settings)


def _complete(settings: Settings, journal: Journal, store: BackendStore, kept: dict) -> None:
    """The rest of a change once `CURRENT` names its build: the corpus brought in line, old builds
    removed, the journal deleted."""
    apply_to_corpus(journal)
    _remove_old_builds(settings.index_dir, store, keep=journal.build, kept=kept)
    Journal.delete(settings.index_dir)


def recover(settings: Settings) -> str | None:
    """Complete or roll back a change whose process died (the lock held; see `transaction.py`), and
    clear half-written builds; the one-line notice (also logged as a warning), or None when there
    was nothing to do."""
    index_dir = settings.index_dir
    try:
        journal = Journal.load(index_dir)
    except ValueError as error:
        Journal.delete(index_dir)
        _clear_partials(index_dir)
        notice = (f"removed a damaged journal in {index_dir} ({_short(error)}); "
                  "check the collection with `assistant docs`, and run `assistant index` if it looks wrong")
        log.warning(notice)
        return notice
    if journal is None:
        _clear_partials(index_dir)
        return None
    store = create_store(settings, journal.backend)
    build = index_dir / journal.build
    description = _build_backend(build)
    if _current_name(index_dir) == journal.build:
        _recover_backend(store, description, commit=True)
        _complete(settings, journal, store, description or {})
        notice = f"completed an interrupted {journal.describe()}: " + _summary(journal, done=True)
    else:
        _recover_backend(store, description, commit=False)
        undo(index_dir, journal)
        Journal.delete(index_dir)
        notice = f"rolled back an interrupted {journal.describe()}: " + _summary(journal, done=False)
    _clear_partials(index_dir)
    log.warning(notice)
    return notice


def recover_if_idle(settings: Settings) -> str | None:
    """`recover` when no command holds the lock (a live change is none of a reader's business);
    what `ask`, `docs` and `serve` run first."""
    if not (settings.index_dir / JOURNAL_FILE).exists():
        return None
    with try_lock(settings.index_dir, "recover") as held:
        return recover(settings) if held else None


def _summary(journal: Journal, *, done: bool) -> str:
    ids = sorted({Path(name).stem for name in (journal.incoming or journal.removed)})
    what = ", ".join(ids)
    if done:
        if journal.operation == "add":
            return f"{what} added; the corpus and the index agree"
        if journal.operation == "remove":
            return f"{what} removed; the corpus and the index agree"
        return "the new index is in use"
    if journal.operation == "add":
        return f"{what} not added, the collection is as it was; run the command again"
    if journal.operation == "remove":
        return f"{what} not removed, the collection is as it was; run the command again"
    return "the previous index is still in use; run `assistant index` again"


def _recover_backend(store: BackendStore, description: dict | None, *, commit: bool) -> None:
    """The backend store's part of a recovery: its `recover` hook (see backends/base.py), when it
    has one; a store keeping everything in the build folder (FAISS) needs none."""
    hook = getattr(store, "recover", None)
    if hook is None:
        if description is not None and not commit:
            log.warning("the %s backend has no recovery hook: run `assistant index` to write a clean generation",
                        store.name)
        return
    hook(description, commit=commit)


def _build_backend(build: Path) -> dict | None:
    try:
        description = json.loads((build / MANIFEST).read_text(encoding="utf-8")).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return description if isinstance(description, dict) else None


def _clear_partials(index_dir: Path) -> None:
    """Half-written builds of processes that died (the lock held, so none is being written)."""
    for path in index_dir.glob("build-*.partial"):
        shutil.rmtree(path, ignore_errors=True)


def _current_name(index_dir: Path) -> str | None:
    try:
        return current_build(index_dir).name
    except (IndexMissingError, IndexCorruptError):
        return None


def current_build(index_dir: Path) -> Path:
    """The build folder `CURRENT` names: a `build-*` folder right inside `index_dir` (not a link);
    anything else (garbage, `..`, an absolute path) is an IndexCorruptError, never followed."""
    pointer = index_dir / CURRENT_FILE
    try:
        with open(pointer, "rb") as handle:
            raw = handle.read(257)
    except FileNotFoundError:
        raise IndexMissingError(f"no index in {index_dir}: {REBUILD_HINT}") from None
    except OSError as error:
        raise IndexCorruptError(f"the index pointer {pointer} is unreadable ({error.strerror}): {REBUILD_HINT}") from None
    try:
        name = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        name = None
    if name is None or not _BUILD_NAME.fullmatch(name):
        shown = repr(raw[:40]) if name is None else repr(name[:40])
        raise IndexCorruptError(f"the index pointer {pointer} is damaged (it holds {shown}, not a build name): {REBUILD_HINT}")
    build = index_dir / name
    if build.is_symlink() or not build.is_dir():
        raise IndexCorruptError(f"the index in {index_dir} points to a missing build {name!r}: {REBUILD_HINT}")
    return build


def load_manifest(index_dir: Path) -> dict:
    """The manifest of the build in use, checked against its own CRC (an index of another format
    version is reported as such first)."""
    build = current_build(index_dir)
    try:
        manifest = json.loads((build / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise IndexCorruptError(f"the index manifest in {build} is unreadable ({_short(error)}): {REBUILD_HINT}") from None
    if not isinstance(manifest, dict):
        raise IndexCorruptError(f"the index manifest in {build} is not an object: {REBUILD_HINT}")
    if manifest.get("format_version") == FORMAT_VERSION and manifest.get("checksum") != manifest_checksum(manifest):
        raise IndexCorruptError(f"the index in {build} is damaged (manifest.json does not match its checksum): "
                                f"{REBUILD_HINT}")
    return manifest


def manifest_checksum(manifest: dict) -> str:
    """The CRC-32 of a manifest's content without its own `checksum` field (keys sorted)."""
    body = json.dumps({k: v for k, v in manifest.items() if k != "checksum"}, sort_keys=True, ensure_ascii=True)
    return f"{zlib.crc32(body.encode()):08x}"


def file_checksums(folder: Path) -> dict[str, list]:
    """Size and CRC-32 of every file under `folder` but the manifest, by relative path."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            found[path.relative_to(folder).as_posix()] = [path.stat().st_size, _crc32(path)]
    return found


def verify_files(build: Path, manifest: dict) -> list[str]:
    """What differs between the build's files and the sizes and CRCs its manifest records."""
    recorded = manifest.get("files")
    if not isinstance(recorded, dict) or not recorded:
        return ["the manifest records no file checksums"]
    problems = []
    for name, expected in sorted(recorded.items()):
        path = build / name
        if not _plain_relative(name) or not isinstance(expected, list) or len(expected) != 2:
            problems.append(f"the manifest entry {name!r} is malformed")
        elif not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != expected[0]:
            problems.append(f"{name} is {path.stat().st_size} bytes, {expected[0]} were written")
        elif _crc32(path) != expected[1]:
            problems.append(f"{name} does not match its checksum")
    return problems


def _plain_relative(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and all(part not in ("", ".", "..") for part in parts)


def _crc32(path: Path) -> str:
    crc = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return f"{crc:08x}"


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


def _current_backend(index_dir: Path, store: BackendStore) -> dict | None:
    """The backend description of the build in use, when it was written by the same store."""
    try:
        description = load_manifest(index_dir).get("backend") or {}
    except (IndexMissingError, IndexCorruptError):
        return None
    return description if description.get("name") == store.name else None


def _write_build(index_dir: Path, name: str, manifest: dict, documents: list[Document], passages: list[Passage],
                 store: BackendStore, data: IndexData, current: dict | None,
                 change: Change | None) -> tuple[Path, PendingWrite]:
    final = index_dir / name
    partial = index_dir / f"{final.name}.partial"
    partial.mkdir(parents=True)
    pending = None
    try:
        _write_text(partial / DOCUMENTS, json.dumps([_document_to_json(d) for d in documents], ensure_ascii=False))
        _write_text(partial / PASSAGES, "".join(json.dumps(_passage_to_json(p), ensure_ascii=False) + "\n" for p in passages))
        pending = store.write(data, partial, current=current, change=change)
        manifest = {**manifest, "backend": pending.description, "files": file_checksums(partial)}
        manifest["checksum"] = manifest_checksum(manifest)
        _write_text(partial / MANIFEST, json.dumps(manifest, indent=2))
        for path in partial.rglob("*"):
            if path.is_file():
                _fsync(path)
        partial.rename(final)
        fsync_dir(index_dir)
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
    fsync_dir(index_dir)


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
