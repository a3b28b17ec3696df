"""Adding documents to the collection and removing them: `assistant add`, `remove`, `docs`.

`add` checks everything before it touches the corpus: the format, that the file is not empty,
encrypted, image-only or longer than `max_pdf_pages`, that its id is free and its content is not
already in the collection, and that it extracts and cleans to text. Only then is the original
copied to `corpus/<id>.<ext>` with a `<id>.toml` sidecar beside it, and the index rebuilt. If the
rebuild fails, the copied files are taken out again; the index switches to a new build only once
that build is complete, so it is whole at every moment.

The rebuild re-embeds nothing that was embedded before: passage and sentence vectors are kept in
an on-disk cache keyed by sha256(model fingerprint, text) (`embedding.EmbeddingCache`), so an
unchanged document costs a cache lookup, and only the new document's text reaches the model. The
result is the same as a full rebuild from scratch (tests/test_library.py checks this). The cache
holds document text only: questions are encoded without it, so they are never written to disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .corpus import METADATA_SUFFIX, Document, corpus_files, document_id, load_document
from .dates import is_iso_date
from .embedding import Embedder, create_embedders
from .errors import CorpusError
from .formats import SUPPORTED_SUFFIXES
from .backends import Change
from .index import Index, build_index, load_index
from .settings import Settings

log = logging.getLogger(__name__)

_SIDECAR_ORDER = ("title", "publisher", "date", "date_note", "year", "url", "language", "source_file")


@dataclass
class Added:
    document: Document
    passages: int = 0
    warnings: list[str] = field(default_factory=list)


def add_documents(
    settings: Settings,
    paths: list[Path],
    *,
    title: str | None = None,
    publisher: str | None = None,
    date: str | None = None,
    url: str | None = None,
    embedders: dict[str, Embedder] | None = None,
    progress: bool = False,
) -> tuple[list[Added], Index]:
    """Add `paths` to the corpus and update the index; all of them or, on any error, none."""
    if not paths:
        raise CorpusError("no file given: assistant add FILE [FILE...]")
    if len(paths) > 1 and (title or url):
        raise CorpusError("--title and --url describe one document: add the files one at a time")
    if date is not None and not is_iso_date(date):
        raise CorpusError(f"--date {date!r} is not YYYY, YYYY-MM or YYYY-MM-DD")
    if url is not None and not url.startswith(("http://", "https://")):
        raise CorpusError(f"--url {url!r} is not an http(s) address")
    overrides = {key: value for key, value in
                 {"title": title, "publisher": publisher, "date": date, "url": url}.items() if value}

    corpus = settings.corpus_dir
    corpus.mkdir(parents=True, exist_ok=True)
    existing = {document_id(path): path for path in corpus_files(corpus)}
    hashes = {hashlib.sha256(path.read_bytes()).hexdigest(): document_id(path) for path in existing.values()}

    planned: list[tuple[Path, Added]] = []
    for path in map(Path, paths):
        if not path.is_file():
            raise CorpusError(f"{path}: no such file")
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise CorpusError(
                f"{path.name}: unsupported format {path.suffix or '(no extension)'}; supported: {', '.join(SUPPORTED_SUFFIXES)}"
            )
        doc_id = document_id(path)
        if doc_id in existing or (corpus / f"{doc_id}{METADATA_SUFFIX}").exists():
            raise CorpusError(f"{path.name}: the collection already has a document with id {doc_id!r}; "
                              f"rename the file or `assistant remove {doc_id}` first")
        if any(doc_id == document_id(p) for p, _ in planned):
            raise CorpusError(f"{path.name}: two of the files map to the document id {doc_id!r}; rename one")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in hashes:
            raise CorpusError(f"{path.name} is already in the collection as {hashes[digest]!r} (same content): not added")
        # Extract and clean now, in memory: a bad file is refused before anything is written.
        document = load_document(path, settings.extraction_limits, overrides=overrides, doc_id=doc_id)
        hashes[digest] = doc_id
        planned.append((path, Added(document, warnings=_missing_metadata(document))))

    written: list[Path] = []
    try:
        for source, added in planned:
            doc_id, suffix = added.document.doc_id, source.suffix.lower()
            target = corpus / f"{doc_id}{suffix}"
            sidecar = corpus / f"{doc_id}{METADATA_SUFFIX}"
            written += [target, sidecar]
            _copy_atomically(source, target)
            meta = _sidecar_values(added.document, source)
            _write_atomically(sidecar, _toml(meta))
        added_ids = frozenset(added.document.doc_id for _, added in planned)
        index = build_index(settings, embedders or create_embedders(settings, cached=True), progress=progress,
                            change=Change(added=added_ids))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    for _, added in planned:
        added.passages = index.passage_counts[added.document.doc_id]
        for warning in added.warnings:
            log.warning("%s: %s", added.document.doc_id, warning)
    return [added for _, added in planned], index


def remove_document(settings: Settings, doc_id: str, *, embedders: dict[str, Embedder] | None = None,
                    progress: bool = False) -> Index:
    """Take `doc_id` (its file and sidecar) out of the corpus and update the index."""
    corpus = settings.corpus_dir
    files = [path for path in corpus_files(corpus) if document_id(path) == doc_id]
    if not files:
        raise CorpusError(f"no document with id {doc_id!r} in {corpus}; `assistant docs` lists them")
    if len(corpus_files(corpus)) == len(files):
        raise CorpusError(f"{doc_id!r} is the last document: the collection cannot be empty; add another first")
    sidecar = corpus / f"{doc_id}{METADATA_SUFFIX}"
    if sidecar.is_file():
        files.append(sidecar)
    # Moved aside (not deleted) until the new index is in place, so a failed build can put them back.
    aside = corpus / f".removing-{uuid.uuid4().hex[:8]}"
    aside.mkdir()
    moved: list[tuple[Path, Path]] = []
    try:
        for path in files:
            os.replace(path, aside / path.name)
            moved.append((path, aside / path.name))
        index = build_index(settings, embedders or create_embedders(settings, cached=True), progress=progress,
                            change=Change(removed=frozenset({doc_id})))
    except BaseException:
        for original, kept in moved:
            os.replace(kept, original)
        shutil.rmtree(aside, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return index


def list_documents(settings: Settings) -> list[dict]:
    """The documents of the current index: id, title, publisher, year, passages (and pages)."""
    index = load_index(settings.index_dir, settings)
    counts = index.passage_counts
    return [
        {"doc_id": doc_id, "title": d.metadata.title, "publisher": d.metadata.publisher, "year": d.metadata.year,
         "passages": counts.get(doc_id, 0), "pages": len(d.pages) or None, "file": d.path.name}
        for doc_id, d in sorted(index.documents.items())
    ]


def _missing_metadata(document: Document) -> list[str]:
    meta = document.metadata
    missing = [name for name, value in (("publisher", meta.publisher), ("date", meta.date or meta.year)) if not value]
    warnings = []
    if missing:
        flags = " ".join(f"--{name} ..." for name in missing)
        warnings.append(f"no {' or '.join(missing)} in the file or the flags: citations will lack it "
                        f"(re-add with {flags}, or edit corpus/{document.doc_id}.toml and run `assistant index`)")
    return warnings


def _sidecar_values(document: Document, source: Path) -> dict:
    values = {key: value for key, value in vars(document.metadata).items() if value not in (None, "")}
    if values.get("date") and values.get("year") == int(values["date"][:4]):
        del values["year"]  # implied by the date
    if source.name != f"{document.doc_id}{source.suffix.lower()}":
        values.setdefault("source_file", source.name)
    return {key: values[key] for key in _SIDECAR_ORDER if key in values}


def _toml(values: dict) -> str:
    lines = ["# Written by `assistant add`; edit it and run `assistant index` to change the citation."]
    for key, value in values.items():
        lines.append(f"{key} = {value}" if isinstance(value, int) else f"{key} = {json.dumps(str(value), ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


def _copy_atomically(source: Path, target: Path) -> None:
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _write_atomically(target: Path, text: str) -> None:
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)

