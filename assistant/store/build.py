"""Building the index: read, clean, chunk, embed and index the corpus into a fresh build folder,
switched to atomically, as a transaction.

A build is written completely, fsynced, and only then `CURRENT` is replaced (an atomic rename), so a
crash or a kill at any moment leaves the previous index loadable. Every build runs as a transaction
(`transaction.py`): one lock over the whole read-embed-write, a journal that the next command uses
to complete or roll back a change whose process died (`recover`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from scipy import sparse as scipy_sparse

from assistant.embedding import Embedder
from assistant.embedding.calibration import Calibration
from assistant.embedding.sparse import SparseEmbedder, as_matrix
from assistant.errors import AssistantError, IndexCorruptError, IndexMissingError, StorageError
from assistant.files import (
    fsync_dir,
    fsync_file,
    refused_write,
    remove_scratch,
    scratch_files,
    storage_refusals,
    write_durably,
)
from assistant.i18n import N_
from assistant.ingest.chunking import Passage
from assistant.ingest.corpus import Document, corpus_fingerprint
from assistant.ingest.reader import read_corpus
from assistant.progress import report
from assistant.settings import Settings
from assistant.store.backends import BackendStore, Change, IndexData, PendingWrite, create_store
from assistant.store.backends.base import RecoverableStore, Unit
from assistant.store.index import Index, expected_manifest, latent_spaces, load_index, model_fingerprints
from assistant.store.layout import (
    CURRENT_FILE,
    DOCUMENTS,
    LATENT_TERMS,
    MANIFEST,
    PASSAGES,
    current_build,
    file_checksums,
    load_manifest,
    manifest_checksum,
    short_error,
)
from assistant.store.transaction import (
    JOURNAL_FILE,
    Journal,
    apply_to_corpus,
    begin,
    checkpoint,
    collection_lock,
    try_lock,
    undo,
)
from assistant.text.tokens import tokenize

log = logging.getLogger(__name__)
OLD_POINTER = f"{CURRENT_FILE}.tmp"
"""What versions before issue 28 wrote `CURRENT` to first (and a kill could leave behind)."""


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


def build_index(settings: Settings, embedders: dict[str, Embedder], *, progress: bool = True,
                change: Change | None = None, wait: bool = True) -> Index:
    """Read, clean, chunk, embed and index the corpus, then switch `index/` to the new build, all
    under the collection's lock (`wait=False`: fail at once when another command holds it).
    `change` (documents added or removed since the build in use) lets a backend that can update in
    place do only that."""
    with changing(settings, "index", wait=wait):
        journal = begin(settings.index_dir, settings.corpus_dir, "index", settings.backend)
        return build_in(settings, embedders, journal, progress=progress, change=change)


UNFINISHED = N_("the change is made, but finishing it in {folder} failed ({reason}): free some disk space and run "
                "`assistant docs`, which finishes it")


@contextlib.contextmanager
def changing(settings: Settings, command: str, *, wait: bool = True) -> Iterator[None]:
    """The collection's lock for a change, with what a dead change left recovered first."""
    with collection_lock(settings.index_dir, command, wait=wait), storage_refusals(settings.index_dir):
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
        corpus = read_corpus(settings.corpus_dir, settings.extraction_limits, settings.chunk_sizes, overlay)
        documents, passages = corpus.documents, corpus.passages
        by_id = {document.doc_id: document for document in documents}
        if len(by_id) != len(documents):
            raise AssistantError("two corpus files map to the same document id: rename one of them")

        passage_texts = [passage_embedding_text(by_id[p.doc_id], p) for p in passages]
        sentence_texts = [p.text[s:e] for p in passages for s, e in p.sentences]
        data = IndexData(passages=passages, tokens=[passage_tokens(by_id[p.doc_id], p) for p in passages])
        for space, embedder in embedders.items():
            label = "" if len(embedders) == 1 else f"{space} "
            if space in latent_spaces(settings, embedders) and isinstance(embedder, SparseEmbedder):
                units: tuple[tuple[Unit, list[str]], ...] = (("passage", passage_texts), ("sentence", sentence_texts))
                found = {unit: embedder.encode_passages_with_sparse(texts, progress=progress, description=f"{label}{unit}s")
                         for unit, texts in units}
                data.vectors[space] = {unit: encoded.dense for unit, encoded in found.items()}
                data.latent_terms[space] = {unit: as_matrix(encoded.sparse, embedder.sparse_dimension)
                                            for unit, encoded in found.items()}
                continue
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
            "skipped": [{"file": name, "error": error.message.as_json()} for name, error in corpus.skipped],
            "passages": len(passages),
            "sentences": len(sentence_texts),
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "build_seconds": round(time.perf_counter() - started, 2),
        }
        report("writing")
        current = _current_backend(index_dir, store)
        build_dir, pending = _write_build(index_dir, journal.build, manifest, documents, passages, store, data,
                                          current, change if current is not None else None)
        checkpoint("written")
        report("switching")
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
    try:
        pending.commit()
        _complete(settings, journal, store, pending.description)
    except Exception as error:
        number = refused_write(error)
        if number is None:
            raise
        raise StorageError(UNFINISHED, folder=str(index_dir), reason=os.strerror(number)) from error
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
        _clear_leftovers(index_dir)
        notice = (f"removed a damaged journal in {index_dir} ({short_error(error)}); "
                  "check the collection with `assistant docs`, and run `assistant index` if it looks wrong")
        log.warning(notice)
        return notice
    if journal is None:
        _clear_leftovers(index_dir)
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
    _clear_leftovers(index_dir)
    log.warning(notice)
    return notice


def recover_if_idle(settings: Settings) -> str | None:
    """`recover` when no command holds the lock (a live change is none of a reader's business);
    what `ask`, `docs` and `serve` run first, when a journal or a dead process's leftovers are there."""
    if not (settings.index_dir / JOURNAL_FILE).exists() and not _leftovers(settings.index_dir):
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
        if journal.operation == "edit":
            return f"{what}: the corrected details are in use; the corpus and the index agree"
        return "the new index is in use"
    if journal.operation == "add":
        return f"{what} not added, the collection is as it was; run the command again"
    if journal.operation == "remove":
        return f"{what} not removed, the collection is as it was; run the command again"
    if journal.operation == "edit":
        return f"{what}: the details were not corrected, the collection is as it was; make the correction again"
    return "the previous index is still in use; run `assistant index` again"


def _recover_backend(store: BackendStore, description: dict | None, *, commit: bool) -> None:
    """The backend store's part of a recovery: its `recover` hook (see backends/base.py), when it
    has one; a store keeping everything in the build folder (FAISS) needs none."""
    if not isinstance(store, RecoverableStore):
        if description is not None and not commit:
            log.warning("the %s backend has no recovery hook: run `assistant index` to write a clean generation",
                        store.name)
        return
    store.recover(description, commit=commit)


def _build_backend(build: Path) -> dict | None:
    try:
        description = json.loads((build / MANIFEST).read_text(encoding="utf-8")).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return description if isinstance(description, dict) else None


def _clear_leftovers(index_dir: Path) -> None:
    """What processes that died left half-written (the lock held, so nothing is being written):
    builds, and the temporary files of durable writes (`CURRENT`'s, the journal's; and
    `CURRENT.tmp`, which versions before issue 28 wrote first and renamed)."""
    for path in index_dir.glob("build-*.partial"):
        shutil.rmtree(path, ignore_errors=True)
    remove_scratch(index_dir)
    (index_dir / OLD_POINTER).unlink(missing_ok=True)


def _leftovers(index_dir: Path) -> bool:
    """Whether a process that died left anything `_clear_leftovers` removes."""
    return (bool(scratch_files(index_dir)) or (index_dir / OLD_POINTER).exists()
            or any(index_dir.glob("build-*.partial")))


def _current_name(index_dir: Path) -> str | None:
    try:
        return current_build(index_dir).name
    except (IndexMissingError, IndexCorruptError):
        return None


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
        # Files of the unfinished folder need no atomic replace each: they are fsynced together below,
        # and the folder is renamed into place only then.
        (partial / DOCUMENTS).write_text(json.dumps([_document_to_json(d) for d in documents], ensure_ascii=False),
                                         encoding="utf-8")
        (partial / PASSAGES).write_text("".join(json.dumps(_passage_to_json(p), ensure_ascii=False) + "\n"
                                                for p in passages), encoding="utf-8")
        for space, units in data.latent_terms.items():
            for unit, matrix in units.items():
                scipy_sparse.save_npz(partial / LATENT_TERMS.format(space=space, unit=unit), matrix.tocsc(), compressed=False)
        pending = store.write(data, partial, current=current, change=change)
        manifest = {**manifest, "backend": pending.description, "files": file_checksums(partial)}
        manifest["checksum"] = manifest_checksum(manifest)
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        for path in partial.rglob("*"):
            if path.is_file():
                fsync_file(path)
        partial.rename(final)
        fsync_dir(index_dir)
    except BaseException:
        if pending is not None:
            pending.rollback()
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final, pending


def _switch_current(index_dir: Path, build: Path) -> None:
    """The commit point: `CURRENT` replaced by one durable write (a killed process leaves at most
    the write's temporary file, which the next command under the lock removes: `_clear_leftovers`)."""
    write_durably(index_dir / CURRENT_FILE, build.name + "\n")


def _remove_old_builds(index_dir: Path, store: BackendStore, *, keep: str, kept: dict) -> None:
    """Every build but `keep`, and what its backend alone holds (`kept` describes the one in use). A
    link named like a build (never made here: `CURRENT` refuses to follow one) is removed, not followed."""
    for path in index_dir.glob("build-*"):
        if path.is_symlink() and path.name != keep:
            path.unlink()
            continue
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
