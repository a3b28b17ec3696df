"""The corpus folder: documents (`.txt`, `.md`) and their metadata sidecars (`<id>.toml`).

A document's id is its file name without the extension, so ids are readable and stable. The
metadata records only what is known: a field that is unknown is left out (or empty), never
guessed. A document without a sidecar still gets in, titled by its first line, with a warning.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .cleaning import CleanText, clean
from .errors import CorpusError

log = logging.getLogger(__name__)

DOCUMENT_SUFFIXES = (".txt", ".md")
METADATA_SUFFIX = ".toml"
CLEANING_VERSION = 1
"""Bump when cleaning changes what the served text of an unchanged file is."""

_DOC_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_METADATA_FIELDS = {"title", "publisher", "date", "date_note", "year", "url", "language", "source_file"}


@dataclass(frozen=True)
class DocumentMetadata:
    title: str
    publisher: str | None = None
    date: str | None = None
    """ISO 8601, as precise as known: "2015-11-05", "2015-11" or "2015"."""
    date_note: str | None = None
    """What is known when the date is not exact ("research carried out in 2012")."""
    year: int | None = None
    """The year the content speaks for, used to order sources in time; from `date` when set."""
    url: str | None = None
    language: str | None = None
    source_file: str | None = None
    """The file name the text was captured under, when it differs from the id."""


@dataclass(frozen=True)
class Document:
    doc_id: str
    metadata: DocumentMetadata
    text: str
    """The served text: cleaned, and what every citation offset points into."""
    clean: CleanText = field(repr=False)
    path: Path
    sha256: str


def load_corpus(corpus_dir: Path) -> list[Document]:
    """Read and clean every document in `corpus_dir`, in id order."""
    paths = corpus_files(corpus_dir)
    if not paths:
        raise CorpusError(
            f"no documents in {corpus_dir}: add .txt or .md files (with optional .toml metadata) and run `assistant index`"
        )
    return [load_document(path) for path in paths]


def corpus_files(corpus_dir: Path) -> list[Path]:
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist: create it or pass --corpus DIR")
    return sorted(p for p in corpus_dir.iterdir() if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES)


def corpus_fingerprint(corpus_dir: Path) -> str:
    """A hash of every document and sidecar byte, so any edit makes the index stale."""
    digest = hashlib.sha256(f"cleaning-v{CLEANING_VERSION}".encode())
    for path in corpus_files(corpus_dir):
        for part in (path, path.with_suffix(METADATA_SUFFIX)):
            if part.is_file():
                digest.update(part.name.encode() + b"\0" + _read_bytes(part) + b"\0")
    return digest.hexdigest()


def load_document(path: Path) -> Document:
    raw_bytes = _read_bytes(path)
    try:
        raw = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CorpusError(f"{path} is not UTF-8 text (byte {error.start}): save it as UTF-8 or remove it") from None
    cleaned = clean(raw, markdown=path.suffix.lower() == ".md")
    if not cleaned.text.strip():
        raise CorpusError(f"{path} has no text once cleaned: add its text or remove it")
    doc_id = document_id(path)
    return Document(
        doc_id=doc_id,
        metadata=_load_metadata(path, cleaned),
        text=cleaned.text,
        clean=cleaned,
        path=path,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
    )


def document_id(path: Path) -> str:
    stem = path.stem.lower()
    if _DOC_ID.match(stem):
        return stem
    slug = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")
    if not slug:
        raise CorpusError(f"{path}: cannot make a document id from its name: rename it with letters or digits")
    return slug


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CorpusError(f"cannot read {path}: {error.strerror}; fix its permissions or remove it") from None


def _load_metadata(path: Path, cleaned: CleanText) -> DocumentMetadata:
    sidecar = path.with_suffix(METADATA_SUFFIX)
    if not sidecar.is_file():
        title = cleaned.text.split("\n", 1)[0].strip()[:200]
        log.warning("%s has no metadata (%s): using its first line as the title", path.name, sidecar.name)
        return DocumentMetadata(title=title)
    try:
        values = tomllib.loads(_read_bytes(sidecar).decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CorpusError(f"{sidecar} is not valid TOML ({error}): fix it or remove it") from None
    unknown = set(values) - _METADATA_FIELDS
    if unknown:
        raise CorpusError(
            f"{sidecar}: unknown field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_METADATA_FIELDS))}"
        )
    values = {key: value for key, value in values.items() if value not in ("", None)}
    if "title" not in values:
        values["title"] = cleaned.text.split("\n", 1)[0].strip()[:200]
        log.warning("%s has no title: using the document's first line", sidecar.name)
    date = values.get("date")
    if date is not None:
        date = str(date)
        if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", date):
            raise CorpusError(f"{sidecar}: date {date!r} is not YYYY, YYYY-MM or YYYY-MM-DD; leave it out when unknown")
        values["date"] = date
        values.setdefault("year", int(date[:4]))
    return DocumentMetadata(**values)
