"""Adding documents to the collection and removing them: `assistant add`, `remove`, `docs`.

`add` checks everything before it touches the corpus: the format, that the file is not a
symbolic link (unless `--follow-symlinks`), not empty, not over its format's limits, not encrypted,
image-only or mostly control characters, that its id is free and its content is not already in the
collection, and that it extracts and cleans to text. Only then are the bytes it checked staged with
a `<id>.toml` sidecar (written by tomli-w) and the index rebuilt from the corpus as the change leaves
it; the staged files move into `corpus/` once the new index is in use. `remove` deletes the files
once the index without them is in use. Both run under the collection's lock and journal
(`transaction.py`): a second command waits, a failure or a kill leaves the collection as it was
before or, past the switch, as it will be after.

The rebuild re-embeds nothing that was embedded before: passage and sentence vectors are kept in
an on-disk cache keyed by sha256(model fingerprint, text) (`embedding.EmbeddingCache`), so an
unchanged document costs a cache lookup, and only the new document's text reaches the model. The
result is the same as a full rebuild from scratch (tests/store/test_library.py checks this). The cache
holds document text only: questions are encoded without it, so they are never written to disk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from assistant.embedding import Embedder, create_embedders
from assistant.errors import CorpusError
from assistant.files import write_durably
from assistant.i18n import N_
from assistant.ingest.corpus import (
    METADATA_SUFFIX,
    Document,
    corpus_files,
    document_id,
    read_document,
    safe_url,
)
from assistant.ingest.dates import date_problem
from assistant.ingest.formats import SUPPORTED_SUFFIXES, strip_controls
from assistant.ingest.reader import DocumentReader
from assistant.languages import LANGUAGES
from assistant.settings import Settings
from assistant.store.backends import Change
from assistant.store.build import build_in, changing
from assistant.store.index import Index, load_index
from assistant.store.transaction import Journal, begin, checkpoint, undo

_SIDECAR_ORDER = ("title", "publisher", "date", "date_note", "year", "url", "language", "source_file")
_SIDECAR_HEADER = "# Written by `assistant add`; edit it and run `assistant index` to change the citation.\n"


@dataclass
class Added:
    document: Document
    passages: int = 0
    """Its passages: as cut when it was examined, then as the index holds them."""
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Incoming:
    source: Path
    data: bytes
    added: Added


def add_documents(
    settings: Settings,
    paths: list[Path],
    *,
    title: str | None = None,
    publisher: str | None = None,
    date: str | None = None,
    url: str | None = None,
    details: Sequence[Mapping[str, str]] | None = None,
    embedders: dict[str, Embedder] | None = None,
    progress: bool = False,
    wait: bool = True,
) -> tuple[list[Added], Index]:
    """Add `paths` to the corpus and update the index; all of them or, on any error (or a kill at
    any moment: see transaction.py), none. Bad files are refused before the lock is taken; the
    checks against the collection run under it. `details` gives each file its own values (some of
    EDITABLE, as an operator confirmed them), over the flags. Each `Added` carries its warnings
    (metadata its citations will lack, a refused --url) for the caller to show: they are not logged
    here as well, so `assistant add` prints each once."""
    incoming = _prepare(settings, paths, title=title, publisher=publisher, date=date, url=url, details=details)
    embedders = embedders or create_embedders(settings, cached=True)

    corpus = settings.corpus_dir
    corpus.mkdir(parents=True, exist_ok=True)
    with changing(settings, "add", wait=wait):
        _check_new(corpus, incoming)
        names = [name for item in incoming for name in _file_names(item)]
        journal = begin(settings.index_dir, corpus, "add", settings.backend, incoming=names)
        try:
            _stage(journal, incoming)
        except BaseException:
            undo(settings.index_dir, journal)
            Journal.delete(settings.index_dir)
            raise
        checkpoint("staged")
        added_ids = frozenset(item.added.document.doc_id for item in incoming)
        index = build_in(settings, embedders, journal, progress=progress, change=Change(added=added_ids))
    for item in incoming:
        item.added.passages = index.passage_counts[item.added.document.doc_id]
    return [item.added for item in incoming], index


def examine_documents(settings: Settings, paths: list[Path], *,
                      details: Sequence[Mapping[str, str]] | None = None) -> list[Added]:
    """What `add_documents` would add, with nothing written: each file read, extracted and cleaned
    within the limits, its details found, and checked against the collection (without the lock, so
    the add checks again under it). For an operator to confirm or correct before adding."""
    incoming = _prepare(settings, paths, details=details)
    _check_new(settings.corpus_dir, incoming)
    return [item.added for item in incoming]


def _prepare(settings: Settings, paths: list[Path], *, title: str | None = None, publisher: str | None = None,
             date: str | None = None, url: str | None = None,
             details: Sequence[Mapping[str, str]] | None = None) -> list[_Incoming]:
    """Each of `paths` checked, read once and loaded in memory with its details: `add_documents`'s
    checks before the lock."""
    if not paths:
        raise CorpusError("no file given: assistant add FILE [FILE...]")
    if len(paths) > 1 and (title or url):
        raise CorpusError("--title and --url describe one document: add the files one at a time")
    if details is not None and len(details) != len(paths):
        raise CorpusError("give the details of each file, or of none")
    if date is not None and (problem := date_problem(date)) is not None:
        raise CorpusError(N_("--date: {problem}"), problem=problem)
    notes = []
    if url is not None and safe_url(url) is None:
        notes.append(f"--url {strip_controls(url)[:80]!r} is not an http(s) address: left out")
        url = None
    shared = {key: value for key, value in
              {"title": title, "publisher": publisher, "date": date, "url": url}.items() if value}

    incoming: list[_Incoming] = []
    with DocumentReader(settings.extraction_limits, settings.chunk_sizes) as reader:
        for path in map(Path, paths):
            if not path.is_file():
                if path.exists():
                    raise CorpusError(f"{path} is not a regular file (a folder, a device or a pipe): add a document file")
                raise CorpusError(f"{path}: no such file")
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                raise CorpusError(f"{path.name}: unsupported format {path.suffix or '(no extension)'}; "
                                  f"supported: {', '.join(SUPPORTED_SUFFIXES)}")
            doc_id = document_id(path)
            if any(doc_id == item.added.document.doc_id for item in incoming):
                raise CorpusError(f"{path.name}: two of the files map to the document id {doc_id!r}; rename one")
            # Read once (links refused, size checked first), extracted, cleaned and cut within the time
            # budget: a bad file is refused before anything is written, and what is stored is exactly
            # what was checked.
            data = read_document(path, settings.extraction_limits)
            overrides = {**shared, **checked_details(details[len(incoming)] if details is not None else {})}
            read = reader.read(path, overrides=overrides, doc_id=doc_id, data=data)
            added = Added(read.document, passages=len(read.passages),
                          warnings=notes + _missing_metadata(read.document))
            incoming.append(_Incoming(path, data, added))
    return incoming


def _check_new(corpus: Path, incoming: list[_Incoming]) -> None:
    """Refuse files whose id is taken or whose content is already in the collection (the lock held,
    so the answer holds until the change is done)."""
    existing = {document_id(path): path for path in corpus_files(corpus)}
    hashes = {_sha256(path): doc_id for doc_id, path in existing.items()}
    for item in incoming:
        doc_id, name = item.added.document.doc_id, item.source.name
        if doc_id in existing or (corpus / f"{doc_id}{METADATA_SUFFIX}").exists():
            raise CorpusError(f"{name}: the collection already has a document with id {doc_id!r}; "
                              f"rename the file or `assistant remove {doc_id}` first")
        digest = hashlib.sha256(item.data).hexdigest()
        if digest in hashes:
            raise CorpusError(f"{name} is already in the collection as {hashes[digest]!r} (same content): not added")
        hashes[digest] = doc_id


def _file_names(item: _Incoming) -> list[str]:
    doc_id = item.added.document.doc_id
    return [f"{doc_id}{item.source.suffix.lower()}", f"{doc_id}{METADATA_SUFFIX}"]


def _stage(journal: Journal, incoming: list[_Incoming]) -> None:
    """Write each file and its sidecar into the journal's staging folder, durably."""
    staged = journal.staged_dir
    assert staged is not None
    for item in incoming:
        document_name, sidecar_name = _file_names(item)
        write_durably(staged / document_name, item.data)
        sidecar = _SIDECAR_HEADER + tomli_w.dumps(_sidecar_values(item.added.document, item.source))
        write_durably(staged / sidecar_name, sidecar)


def remove_document(settings: Settings, doc_id: str, *, embedders: dict[str, Embedder] | None = None,
                    progress: bool = False, wait: bool = True) -> Index:
    """Take `doc_id` (its file and sidecar) out of the corpus and update the index; the files are
    deleted only once the new index is in use (see transaction.py)."""
    embedders = embedders or create_embedders(settings, cached=True)
    corpus = settings.corpus_dir
    with changing(settings, "remove", wait=wait):
        files = _files_of(corpus, doc_id)
        if len(corpus_files(corpus)) == len(files):
            raise CorpusError(f"{doc_id!r} is the last document: the collection cannot be empty; add another first")
        sidecar = files[0].with_suffix(METADATA_SUFFIX)  # the file's own: "Night Bus.toml" for night-bus
        if sidecar.is_file():
            files.append(sidecar)
        journal = begin(settings.index_dir, corpus, "remove", settings.backend, removed=[path.name for path in files])
        return build_in(settings, embedders, journal, progress=progress, change=Change(removed=frozenset({doc_id})))


def _files_of(corpus: Path, doc_id: str) -> list[Path]:
    """The corpus files of `doc_id` (a CorpusError when it has none)."""
    files = [path for path in corpus_files(corpus) if document_id(path) == doc_id]
    if not files:
        raise CorpusError(f"no document with id {doc_id!r} in {corpus}; `assistant docs` lists them")
    return files


EDITABLE = ("title", "publisher", "date", "url", "language")
"""The details an operator may correct (`edit_document`); the date decides the year, and with it
which source is the current one."""


def checked_details(changes: Mapping[str, str]) -> dict[str, str]:
    """`changes` (some of EDITABLE) stripped, blanks dropped, each value checked: a CorpusError
    naming the first bad one."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise CorpusError(f"cannot change {', '.join(unknown)}: the details that can be changed are {', '.join(EDITABLE)}")
    values = {}
    for key, value in changes.items():
        if value and value.strip():
            values[key] = strip_controls(value)
            if not values[key]:
                raise CorpusError(f"the {key} has only control characters: type it again, or leave it empty to keep it")
    if "date" in values and (problem := date_problem(values["date"])) is not None:
        raise CorpusError(problem.msgid, **problem.params)
    if "url" in values and safe_url(values["url"]) is None:
        raise CorpusError(f"{strip_controls(values['url'])[:80]!r} is not an http(s) address")
    if "language" in values and values["language"] not in LANGUAGES:
        raise CorpusError(f"language {values['language']!r} is not one of {', '.join(LANGUAGES)}")
    return values


def edit_document(settings: Settings, doc_id: str, changes: dict[str, str], *,
                  embedders: dict[str, Embedder] | None = None, progress: bool = False, wait: bool = True) -> Index:
    """Correct `doc_id`'s details (`changes`: some of EDITABLE, each a new value) and update the index,
    whole or not at all, as add and remove: its file and a new sidecar are staged under the journal,
    the index is built from the corpus as they leave it, and they replace the old ones only once the
    new index is in use."""
    values = checked_details(changes)
    embedders = embedders or create_embedders(settings, cached=True)
    corpus = settings.corpus_dir
    with changing(settings, "edit", wait=wait):
        source = _files_of(corpus, doc_id)[0]
        data = read_document(source, settings.extraction_limits)
        with DocumentReader(settings.extraction_limits, settings.chunk_sizes) as reader:
            document = reader.read(source, overrides=values, doc_id=doc_id, data=data).document
        names = [source.name, source.with_suffix(METADATA_SUFFIX).name]  # the sidecar the build reads
        journal = begin(settings.index_dir, corpus, "edit", settings.backend, incoming=names)
        try:
            staged = journal.staged_dir
            assert staged is not None
            write_durably(staged / names[0], data)
            write_durably(staged / names[1], _SIDECAR_HEADER + tomli_w.dumps(_sidecar_values(document, source)))
        except BaseException:
            undo(settings.index_dir, journal)
            Journal.delete(settings.index_dir)
            raise
        checkpoint("staged")
        changed = frozenset({doc_id})
        return build_in(settings, embedders, journal, progress=progress, change=Change(added=changed, removed=changed))


def list_documents(settings: Settings, index: Index | None = None) -> list[dict]:
    """The documents of the current index (`index`, else the one on disk): id, title, publisher,
    year, passages (and pages)."""
    index = index or load_index(settings.index_dir, settings)
    counts = index.passage_counts
    return [
        {"doc_id": doc_id, "title": d.metadata.title, "publisher": d.metadata.publisher, "year": d.metadata.year,
         "passages": counts.get(doc_id, 0), "pages": len(d.pages) or None, "file": d.path.name}
        for doc_id, d in sorted(index.documents.items())
    ]


def missing_details(document: Document) -> list[str]:
    """The details its citations will lack: "publisher", "date" (no date and no year)."""
    meta = document.metadata
    return [name for name, value in (("publisher", meta.publisher), ("date", meta.date or meta.year)) if not value]


def _missing_metadata(document: Document) -> list[str]:
    missing = missing_details(document)
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
    if source.name != f"{document.doc_id}{source.suffix.lower()}" and strip_controls(source.name):
        values.setdefault("source_file", strip_controls(source.name))
    return {key: values[key] for key in _SIDECAR_ORDER if key in values}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
