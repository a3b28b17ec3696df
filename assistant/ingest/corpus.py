"""The corpus folder: documents (`.txt`, `.md`, `.pdf`, `.html`, `.docx`; see `formats.py`) and
their metadata sidecars (`<id>.toml`).

A document's id is its file name without the extension, so ids are readable and stable. The
metadata records only what is known: a field that is unknown is left out (or empty), never
guessed. A document without a sidecar still gets in, titled by its first line, with a warning.
Metadata the file records itself (a PDF's or Word file's title; a web page's title, site name,
date and canonical URL) is used unless the sidecar says otherwise.

Only safe things are stored and shown: metadata loses its control characters, a URL that is not
http(s) (`javascript:`, `data:`, ...) is left out with a warning, wherever it came from (sidecar,
`assistant add --url`, the file itself), and a document is read through a symbolic link only when
`follow_symlinks` is set.

An `Overlay` is the corpus as an `assistant add`/`remove` will leave it (files staged to come in,
files to go out): the index is built from it before the corpus folder itself changes (see
`transaction.py`).
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import logging
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from anyascii import anyascii

from assistant.errors import CorpusError
from assistant.i18n import N_
from assistant.ingest.cleaning import CleanText, clean
from assistant.ingest.dates import EARLIEST_YEAR, date_problem, newest_cited_year, year_label, year_problem
from assistant.ingest.formats import (
    FILE_DATE,
    SUPPORTED_SUFFIXES,
    ExtractionLimits,
    FileDate,
    check_size,
    extract,
    first_line,
    page_offsets,
    strip_controls,
)
from assistant.languages import LANGUAGES, Language, detect_language
from assistant.progress import report

log = logging.getLogger(__name__)

DOCUMENT_SUFFIXES = SUPPORTED_SUFFIXES
METADATA_SUFFIX = ".toml"
CLEANING_VERSION = 1
"""Bump when cleaning changes what the served text of an unchanged file is."""

_DOC_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_METADATA_FIELDS = {"title", "publisher", "date", "date_note", "year", "url", "language", "source_file"}
_TEXT_FIELDS = ("title", "publisher", "date_note", "url", "language", "source_file")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Overlay:
    """The corpus as a change will leave it: document files (with their sidecars) staged in a folder
    of their own to come in, and file names to go out."""

    staged: Path | None = None
    removed: frozenset[str] = frozenset()


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
    year_estimate: int | None = None
    """For a source without `year`: the newest year its text cites (a lower bound on when it was
    written, see `dates.py`); it places the source in time, and is shown as such."""
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
    pages: tuple[int, ...] = ()
    """For a paginated source (PDF): the offset in `text` where each page starts; page n starts
    at `pages[n - 1]`. Empty for a document without pages."""

    @property
    def year(self) -> int | None:
        """The year that places the source in time: its own, else the estimate (a lower bound)."""
        return self.metadata.year or self.metadata.year_estimate

    @property
    def year_label(self) -> str:
        return year_label(self.metadata.year, self.metadata.year_estimate)

    @property
    def language(self) -> Language:
        """The language its text is in: the metadata's when it names one of ours, else detected."""
        declared = (self.metadata.language or "").lower()[:2]
        return declared if declared in LANGUAGES else detect_language(self.text[:5000])


def load_corpus(corpus_dir: Path, limits: ExtractionLimits, overlay: Overlay | None = None) -> list[Document]:
    """Read and clean every document in `corpus_dir` (as `overlay` changes it), in id order, each
    within `limits` (`Settings.extraction_limits`)."""
    paths = corpus_files(corpus_dir, overlay)
    if not paths:
        raise no_documents(corpus_dir)
    documents = []
    for done, path in enumerate(paths):
        report("reading", done, len(paths))
        documents.append(load_document(path, limits))
    return documents


def no_documents(corpus_dir: Path) -> CorpusError:
    return CorpusError(
        f"no documents in {corpus_dir}: add .txt, .md, .pdf, .html or .docx files (with optional .toml metadata) "
        "and run `assistant index`, or use `assistant add FILE`"
    )


def corpus_files(corpus_dir: Path, overlay: Overlay | None = None) -> list[Path]:
    """The document files of the corpus (as `overlay` changes it), in name order."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist: create it or pass --corpus DIR")
    found = {p.name: p for p in _documents_in(corpus_dir)}
    if overlay is not None:
        for name in overlay.removed:
            found.pop(name, None)
        if overlay.staged is not None:
            found.update((p.name, p) for p in _documents_in(overlay.staged))
    return [found[name] for name in sorted(found)]


def _documents_in(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.suffix.lower() in DOCUMENT_SUFFIXES and (p.is_file() or p.is_symlink())]


def corpus_fingerprint(corpus_dir: Path, overlay: Overlay | None = None) -> str:
    """A hash of every document and sidecar byte, so any edit makes the index stale."""
    digest = hashlib.sha256(f"cleaning-v{CLEANING_VERSION}".encode())
    for path in corpus_files(corpus_dir, overlay):
        for part in (path, path.with_suffix(METADATA_SUFFIX)):
            if part.is_file():
                digest.update(part.name.encode() + b"\0")
                try:
                    with part.open("rb") as handle:
                        while chunk := handle.read(_CHUNK):
                            digest.update(chunk)
                except OSError as error:
                    raise CorpusError(f"cannot read {part}: {error.strerror}; fix its permissions or remove it") from None
                digest.update(b"\0")
    return digest.hexdigest()


def read_document(path: Path, limits: ExtractionLimits) -> bytes:
    """The bytes of a document file, read once: refused when it is a symbolic link (unless
    `follow_symlinks`), not a regular file, or over its format's byte limit (checked before reading)."""
    flags = os.O_RDONLY | (0 if limits.follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            target = os.path.realpath(path)
            raise CorpusError(f"{path} is a symbolic link (to {target}): copy the file itself, or pass "
                              "--follow-symlinks to read what it points to") from None
        if error.errno == errno.ENOENT:
            raise CorpusError(f"{path}: no such file") from None
        raise CorpusError(f"cannot read {path}: {error.strerror}; fix its permissions or remove it") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise CorpusError(f"{path} is not a regular file: add a document file")
        check_size(path, info.st_size, limits)
        limit, _ = limits.byte_limit(path.suffix.lower())
        data = handle.read(limit + 1)
    check_size(path, len(data), limits)  # it grew while being read
    return data


def safe_url(value: str) -> str | None:
    """`value` when it is an http(s) address with a host and nothing to hide (no spaces or control
    characters); None otherwise (`javascript:`, `data:`, `file:`...): only such links are shown."""
    value = value.strip()
    if not value or any(c.isspace() or ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def load_document(
    path: Path, limits: ExtractionLimits, *, overrides: dict | None = None, doc_id: str | None = None,
    data: bytes | None = None,
) -> Document:
    """Read, extract and clean one document file (`data`: its bytes, already read by
    `read_document`). `overrides` (metadata given on the command line) win over the sidecar, which
    wins over what the file records about itself."""
    raw_bytes = read_document(path, limits) if data is None else data
    extracted = extract(path, raw_bytes, limits)
    cleaned = clean(extracted.raw, markdown=extracted.markdown)
    if not cleaned.text.strip():
        raise CorpusError(f"{path} has no text once cleaned: add its text or remove it")
    return Document(
        doc_id=doc_id or document_id(path),
        metadata=_load_metadata(path, cleaned, extracted.metadata, overrides or {}),
        text=cleaned.text,
        clean=cleaned,
        path=path,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        pages=page_offsets(extracted.raw, extracted.page_starts, cleaned.text),
    )


def name_slug(name: str) -> str:
    """A file name's letters and digits in lower-case ASCII, each run of anything else one "-".
    Other scripts are transliterated (anyascii): staff name files in Russian and Kazakh, and
    "Закон о ВИЧ.pdf" becomes "zakon-o-vich", "Қазақстан" "qazaqstan", "résumé" "resume"."""
    return re.sub(r"[^a-z0-9]+", "-", anyascii(name).lower()).strip("-")


def document_id(path: Path) -> str:
    stem = path.stem.lower()
    if _DOC_ID.match(stem):
        return stem
    slug = name_slug(path.stem)
    if not slug:
        raise CorpusError(f"{path}: cannot make a document id from its name: rename it with letters or digits")
    return slug


SIDECAR_MAX_BYTES = 100_000
"""A metadata sidecar is a few lines; a bigger one is not read."""


def _read_sidecar(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(SIDECAR_MAX_BYTES + 1)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise CorpusError(f"{path} is a symbolic link: replace it with the file itself") from None
        raise CorpusError(f"cannot read {path}: {error.strerror}; fix its permissions or remove it") from None
    if len(data) > SIDECAR_MAX_BYTES:
        raise CorpusError(f"{path} is over {SIDECAR_MAX_BYTES:,} bytes: a sidecar holds a few lines of metadata")
    return data


def _load_metadata(path: Path, cleaned: CleanText, from_file: dict | None = None,
                   overrides: dict | None = None) -> DocumentMetadata:
    sidecar = path.with_suffix(METADATA_SUFFIX)
    values = dict(from_file or {})
    recorded = values.pop(FILE_DATE, None)
    if not sidecar.is_file():
        if recorded is not None and not values.get("date") and not (overrides or {}).get("date"):
            values.update(_file_date(path, recorded, cleaned))
        if not values.get("title") and not (overrides or {}).get("title"):
            title = cleaned.text.split("\n", 1)[0].strip()[:200]
            log.warning("%s has no metadata (%s): using its first line as the title", path.name, sidecar.name)
            values["title"] = title
    else:
        text = _read_sidecar(sidecar)
        try:
            found = tomllib.loads(text.decode("utf-8"))
        except Exception as error:  # TOMLDecodeError, UnicodeDecodeError, RecursionError (arrays nested 10,000 deep)
            raise CorpusError(N_("{sidecar} is not valid TOML ({reason}): fix it or remove it"), sidecar=str(sidecar),
                              reason=first_line(error)) from None
        unknown = set(found) - _METADATA_FIELDS
        if unknown:
            raise CorpusError(
                f"{sidecar}: unknown field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_METADATA_FIELDS))}"
            )
        values.update(found)
    values.update(overrides or {})
    values = _safe_values(path, {key: value for key, value in values.items() if value not in ("", None)})
    if "title" not in values:
        values["title"] = cleaned.text.split("\n", 1)[0].strip()[:200]
        log.warning("%s has no title: using the document's first line", sidecar.name)
    published = values.get("date")
    if published is not None:
        published = str(published)
        problem = date_problem(published)
        if problem is not None:
            raise CorpusError(N_("{sidecar}: {problem}"), sidecar=str(sidecar), problem=problem)
        values["date"] = published
        values.setdefault("year", int(published[:4]))
    if values.get("year") is not None and (problem := year_problem(values["year"])) is not None:
        raise CorpusError(N_("{sidecar}: {problem}"), sidecar=str(sidecar), problem=problem)
    if values.get("year") is None:
        values["year_estimate"] = newest_cited_year(cleaned.text)
    return DocumentMetadata(**values)


def _file_date(path: Path, recorded: FileDate, cleaned: CleanText) -> dict:
    """What a PDF or Word file's own date (`recorded`) says of its source's date, for a file with no
    sidecar yet (`assistant add`): the date, with a note of where it was read.

    The rule: a file's creation date is an upper bound on when its text was written (a text cannot
    be newer than its file), usually close to the publication date, so it stands for the date;
    the newest year the text cites is a lower bound (dates.py). A recorded date before that lower
    bound, or after today, is wrong (a template's date, a reset clock): it is left out, and the
    note says so, so the source is dated by its text as an undated one is."""
    year, cited = int(recorded.date[:4]), newest_cited_year(cleaned.text)
    if recorded.date > date.today().isoformat():
        log.warning("%s: %s (%s) is in the future: left out", path.name, recorded.basis, recorded.date)
        return {"date_note": f"{recorded.basis} ({recorded.date}) is in the future: not used"}
    if year < EARLIEST_YEAR:  # a converter's zero date (1601-01-01, 1899-12-30), not the text's
        log.warning("%s: %s (%s) is before %d: left out", path.name, recorded.basis, recorded.date, EARLIEST_YEAR)
        return {"date_note": f"{recorded.basis} ({recorded.date}) is before {EARLIEST_YEAR}: not used"}
    if cited is not None and year < cited:
        log.warning("%s: %s (%s) is older than the newest year its text cites (%d): left out",
                    path.name, recorded.basis, recorded.date, cited)
        return {"date_note": f"{recorded.basis} ({year}) is older than the newest year the text cites ({cited}): "
                             "not used"}
    return {"date": recorded.date, "date_note": f"from {recorded.basis}"}


def _safe_values(path: Path, values: dict) -> dict:
    """The metadata values with their types checked, control characters taken out (warned about)
    and a URL that is not http(s) left out (warned about)."""
    for key in _TEXT_FIELDS:
        if key not in values:
            continue
        value = values[key]
        if not isinstance(value, str):
            raise CorpusError(f"{path.with_suffix(METADATA_SUFFIX).name}: {key} must be text, not {value!r}")
        cleaned = strip_controls(value)
        if cleaned != value.strip():
            log.warning("%s: control characters taken out of its %s", path.name, key)
        if key == "url" and cleaned:
            url = safe_url(cleaned)
            if url is None:
                log.warning("%s: url %r is not an http(s) address: left out", path.name, cleaned[:80])
            cleaned = url or ""
        if cleaned:
            values[key] = cleaned
        else:
            del values[key]
    year = values.get("year")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
        raise CorpusError(f"{path.with_suffix(METADATA_SUFFIX).name}: year must be a whole number such as 2015")
    return values


def page_at(page_starts: tuple[int, ...] | list[int], offset: int) -> int | None:
    """The 1-based page the served-text `offset` is on, or None for a document without pages."""
    if not page_starts:
        return None
    return max(1, bisect.bisect_right(page_starts, offset))
