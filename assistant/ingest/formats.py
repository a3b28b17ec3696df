"""Text out of the file formats people keep documents in: `.txt`, `.md`, `.pdf`, `.html`, `.docx`.

Each format gives the captured text that `cleaning.clean` turns into served text, whether it is
Markdown-like (headings marked with `#`), the metadata the file itself records, and for a PDF the
offset where each page starts, so a citation can say "p. 3".

Libraries, and why:
- PDF: `pypdf`. Pure Python (no system libraries), actively maintained, reads the text layer
  page by page, tells an encrypted file and its page count before any text is extracted (so a
  10,000-page file is refused at once), and reads the document information (title, creation
  date).
  `pdfplumber` (on pdfminer.six) keeps layout better but is several times slower and adds nothing
  the cleaning does not already do (joining wraps, undoing hyphenation).
- HTML: `trafilatura`. The best-measured main-content extractor in open benchmarks; it drops
  navigation, footers, cookie and newsletter boxes, keeps headings and lists (Markdown output),
  and reads `<title>`, `og:site_name`, canonical URL and publication date from meta tags.
- Word: `python-docx`. The standard reader of `.docx`: paragraphs with their styles (headings,
  list items) and tables in body order, and the core properties (title, created).

Every input costs bounded work (`ExtractionLimits`, defaults in `Settings`): the file's bytes are
checked against the limit of its format before any parser sees them (`.txt`/`.md` and `.html`
their own, PDF and Word the general file limit); a PDF's page count before its text is read; a
Word file's parts by their declared unpacked sizes (zipfile enforces them while inflating: a part
that inflates past its declared size fails its check) and `word/document.xml` streamed once through
lxml's `iterparse` (entities not resolved, each element cleared) to refuse a text node over
`max_xml_text_chars` before python-docx builds its tree; and the extracted text by its length.
Control characters other than white space (NUL, ESC, DEL...) are not text: a few are dropped, a
file with more than `MAX_CONTROL_SHARE` of them is refused.

A damaged file fails inside the parsers in more ways than they document (pypdf's LimitReachedError
on a page tree nested past 100 levels or an object that refers to itself, zlib.error from a Word
part whose compressed data is damaged, a RecursionError or a MemoryError): whatever a parser raises
becomes the one-line refusal of `UNREADABLE`, naming the file, never a traceback.

What a PDF page contributes is its body text: running headers and footers (a line repeated at the
top or bottom of most pages, page numbers aside) and page-number lines are left out before
cleaning. Footnote markers stay as printed ("services.28 Undocumented"): the sentence splitter
recognises a number glued after a full stop as a footnote marker, not a new sentence.
"""

from __future__ import annotations

import bisect
import dataclasses
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from assistant.errors import CorpusError
from assistant.i18n import N_
from assistant.ingest.cleaning import normalize
from assistant.ingest.dates import date_problem

TEXT_SUFFIXES = (".txt", ".md")
SUPPORTED_SUFFIXES = (".txt", ".md", ".pdf", ".html", ".htm", ".docx")

_PAGE_NUMBER = re.compile(
    r"^(?:(?:page|p\.|pg\.?|стр\.?|бет)\s*)?[-–—(\[]?\s*(?:\d{1,4}|[ivxlcdm]{1,7})\s*[-–—)\]]?"
    r"(?:\s*(?:of|/|из)\s*\d{1,4})?$",
    re.I,
)
_JUNK_TITLE = re.compile(r"^(untitled|microsoft (word|powerpoint) - |document\d*$|slide \d+$|word document$)", re.I)
_FOOTNOTE = re.compile(r"^(\d{1,3})\s+[A-Z\u0400-\u04FF]")
_EDGE_LINES = 2
"""How many lines at the top and at the bottom of a page can be running headers or footers."""


MAX_CONTROL_SHARE = 0.01
"""A text with more control characters than this share of its characters is refused (a binary
file, UTF-16 read as UTF-8, a PDF font without a text mapping); fewer are dropped."""
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
"""Control characters that are not white space (tab, line and page breaks stay)."""


@dataclass(frozen=True)
class ExtractionLimits:
    """How much work one document may cost, and whether a symbolic link may be read; made by
    `Settings.extraction_limits` (the defaults live there, settable as ASSISTANT_MAX_*)."""

    max_pdf_pages: int
    max_file_bytes: int
    """Any file (PDF and Word: this is their byte limit)."""
    max_text_bytes: int
    """A .txt or .md file."""
    max_html_bytes: int
    """A web page: trafilatura's time grows faster than the page (5 MB: about 5 s on 2 cores)."""
    max_docx_unpacked_bytes: int
    """A Word file's parts, all together, once inflated."""
    max_docx_parts: int
    max_xml_text_chars: int
    """One text node (or attribute) of a Word file's XML."""
    max_text_chars: int
    """The text extracted from a file of any format."""
    max_document_seconds: float
    """Seconds one document's reading, extraction, cleaning and cutting into passages may take
    (`reader.py`); 0: no limit, read in the command's own process."""
    follow_symlinks: bool = False
    """Read a document through a symbolic link (off: a link is refused, so a link to a file outside
    the collection is never served)."""

    def byte_limit(self, suffix: str) -> tuple[int, str]:
        """The byte limit of a file with `suffix`, and the setting that sets it."""
        if suffix in TEXT_SUFFIXES:
            return self.max_text_bytes, "ASSISTANT_MAX_TEXT_BYTES"
        if suffix in (".html", ".htm"):
            return self.max_html_bytes, "ASSISTANT_MAX_HTML_BYTES"
        return self.max_file_bytes, "ASSISTANT_MAX_FILE_BYTES"


FILE_DATE = "file_date"
"""The key of `Extracted.metadata` under which a PDF or Word file's own date is handed on (a
`FileDate`; corpus.py decides whether to believe it)."""


@dataclass(frozen=True)
class FileDate:
    """The date a file records of itself (a PDF's /CreationDate, a Word file's created property)
    and where it was read, for the date note."""

    date: str
    """YYYY-MM-DD."""
    basis: str
    """Where it was read, e.g. "the PDF's creation date"."""


@dataclass(frozen=True)
class Extracted:
    raw: str
    """The captured text, for `clean`."""
    markdown: bool = False
    metadata: dict = field(default_factory=dict)
    """What the file records about itself: title, publisher, date, url (only what is there)."""
    page_starts: tuple[int, ...] = ()
    """For a PDF: where each page's text starts in `raw` (the first is 0)."""


UNREADABLE = {
    ".pdf": N_("{name} is not a readable PDF ({reason}): it may be damaged; save it again from the program "
               "that made it, or remove it"),
    ".docx": N_("{name} is not a readable Word (.docx) file ({reason}): it may be damaged; save it again from "
                "Word, or remove it"),
    ".html": N_("{name} is not a readable web page ({reason}): save the page again from the browser, or remove it"),
    ".txt": N_("{name} could not be read ({reason}): save it again as UTF-8 text, or remove it"),
}
"""The refusal of a file its parser failed on, by format (.htm as .html, .md as .txt)."""


def unreadable(path: Path, error: BaseException) -> CorpusError:
    """The one-line refusal of `path`, whose parser raised `error` (any kind: the parsers raise many)."""
    suffix = {".htm": ".html", ".md": ".txt"}.get(path.suffix.lower(), path.suffix.lower())
    return CorpusError(UNREADABLE.get(suffix, UNREADABLE[".txt"]), name=path.name, reason=first_line(error))


def extract(path: Path, data: bytes, limits: ExtractionLimits) -> Extracted:
    """The captured text and metadata of a document file, or a CorpusError that says what is wrong
    (whatever a parser raises on a damaged file included)."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise CorpusError(
            f"{path.name}: unsupported format {suffix or '(no extension)'}; supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if not data.strip():
        raise CorpusError(f"{path.name} is empty: there is no text to add")
    check_size(path, len(data), limits)
    try:
        if suffix in TEXT_SUFFIXES:
            try:
                extracted = Extracted(data.decode("utf-8-sig"), markdown=suffix == ".md")
            except UnicodeDecodeError as error:
                raise CorpusError(f"{path} is not UTF-8 text (byte {error.start}): save it as UTF-8 or remove it") from None
        elif suffix == ".pdf":
            extracted = extract_pdf(path, data, max_pages=limits.max_pdf_pages)
        elif suffix in (".html", ".htm"):
            extracted = extract_html(path, data)
        else:
            extracted = extract_docx(path, data, limits)
    except CorpusError:
        raise
    except Exception as error:  # the backstop: RecursionError and MemoryError are Exceptions too
        raise unreadable(path, error) from None
    return checked_text(path, extracted, limits)


def check_size(path: Path, size: int, limits: ExtractionLimits) -> None:
    """Refuse a file over its format's byte limit before anything parses it."""
    limit, setting = limits.byte_limit(path.suffix.lower())
    if size > limit:
        raise CorpusError(f"{path.name} is {_size(size)}; the limit for {path.suffix.lower()} files is {_size(limit)} "
                          f"(setting {setting}): split it or raise the limit")


def checked_text(path: Path, extracted: Extracted, limits: ExtractionLimits) -> Extracted:
    """`extracted` without control characters (page starts moved with the text), or a CorpusError
    when the text is over `max_text_chars` or is mostly control characters (not text at all)."""
    raw = extracted.raw
    if len(raw) > limits.max_text_chars:
        raise CorpusError(f"{path.name} holds {len(raw):,} characters of text; the limit is {limits.max_text_chars:,} "
                          "(setting ASSISTANT_MAX_TEXT_CHARS): split it")
    found = [match.start() for match in _CONTROL.finditer(raw)]
    if not found:
        return extracted
    if len(found) > MAX_CONTROL_SHARE * len(raw):
        raise CorpusError(f"{path.name} is not text: {len(found) / len(raw):.0%} of its characters are control "
                          "characters (NUL and the like); is it a binary file, or UTF-16? Save it as UTF-8 text")
    starts = tuple(start - bisect.bisect_left(found, start) for start in extracted.page_starts)
    return dataclasses.replace(extracted, raw=_CONTROL.sub("", raw), page_starts=starts)


def strip_controls(value: str) -> str:
    """`value` without control characters (tabs and line breaks too: for one-line metadata)."""
    return _CONTROL.sub("", re.sub(r"[\t\n\r\x0b\x0c]+", " ", value)).strip()


def _size(size: int) -> str:
    return f"{size / 1e6:,.1f} MB" if size >= 100_000 else f"{size:,} bytes"


# --- PDF ----------------------------------------------------------------------------------------


def extract_pdf(path: Path, data: bytes, *, max_pages: int) -> Extracted:
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings about odd but readable files
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened: int = reader.decrypt("")  # many PDFs are "encrypted" with an empty user password
            except Exception:  # an unsupported algorithm, or a missing crypto library
                opened = 0
            if not opened:
                raise CorpusError(f"{path.name} is encrypted (password-protected): save an unprotected copy and add that")
        count = len(reader.pages)
    except CorpusError:
        raise
    except Exception as error:  # PdfReadError, LimitReachedError (a page tree 100 levels deep), AttributeError...
        raise unreadable(path, error) from None
    if count > max_pages:
        raise CorpusError(
            f"{path.name} has {count:,} pages; the limit is {max_pages:,} (setting ASSISTANT_MAX_PDF_PAGES): split it"
        )
    pages: list[list[str]] = []
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as error:  # pypdf raises many kinds on damaged content streams
            raise CorpusError(f"{path.name}: cannot read the text of page {number} ({first_line(error)})") from None
        pages.append([line.strip() for line in normalize(text).split("\n")])
    if not any(line for page in pages for line in page):
        raise CorpusError(
            f"{path.name} has no text layer (a scan or images only): run OCR on it (e.g. ocrmypdf) and add the result"
        )
    pages = [set_footnotes_apart(page) for page in strip_running_lines(pages)]
    parts: list[str] = []
    starts: list[int] = []
    offset = 0
    # Pages are joined like lines: text flows on over a page break, and the cleaning's wrap rules
    # (a full-width line, a lowercase or "(" start, a hyphen) decide whether a paragraph goes on.
    for lines in pages:
        body = "\n".join(lines).strip("\n")
        if parts:
            parts.append("\n")
            offset += 1
        starts.append(offset)
        parts.append(body)
        offset += len(body)
    return Extracted("".join(parts), metadata=_pdf_metadata(reader), page_starts=tuple(starts))


def strip_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Each page without its running headers and footers and its page-number lines.

    A line is a running header (footer) when, with its digits ignored, it is among the first
    (last) `_EDGE_LINES` lines of at least half the pages, and of at least two."""
    def key(line: str) -> str:
        return re.sub(r"\d+", "#", line.lower())

    bodies = [[line for line in page if line] for page in pages]
    top: Counter[str] = Counter()
    bottom: Counter[str] = Counter()
    for lines in bodies:
        top.update({key(line) for line in lines[:_EDGE_LINES]})
        bottom.update({key(line) for line in lines[-_EDGE_LINES:]})
    needed = max(2, (len(bodies) + 1) // 2)
    running_top = {k for k, n in top.items() if n >= needed}
    running_bottom = {k for k, n in bottom.items() if n >= needed}

    kept = []
    for page, lines in zip(pages, bodies, strict=True):
        first, last = 0, len(lines)
        while first < min(last, _EDGE_LINES + 1) and (key(lines[first]) in running_top or _PAGE_NUMBER.match(lines[first])):
            first += 1
        while last > max(first, len(lines) - _EDGE_LINES - 1) and (
            key(lines[last - 1]) in running_bottom or _PAGE_NUMBER.match(lines[last - 1])
        ):
            last -= 1
        # Keep the page's own blank lines (paragraph breaks) between the first and last kept line.
        if first < last:
            nonblank = [i for i, line in enumerate(page) if line]
            kept.append(page[nonblank[first] : nonblank[last - 1] + 1])
        else:
            kept.append([])
    return kept


def set_footnotes_apart(lines: list[str]) -> list[str]:
    """Footnotes at the foot of a page ("12 Mobile clinic statistics, 2023.") become a paragraph of
    their own: a line starting with a number that the page's text carries as a marker ("services.12")."""
    body = "\n".join(lines)
    first = None
    for position in range(len(lines) - 1, max(-1, len(lines) - 12), -1):
        note = _FOOTNOTE.match(lines[position])
        if note and re.search(rf"[^\s\d]{note.group(1)}(?!\d)", body[: body.find(lines[position])]):
            first = position
    if first is None or first == 0:
        return lines
    return [*lines[:first], "", *lines[first:]]


def _pdf_metadata(reader) -> dict:
    try:
        info = reader.metadata or {}
        title = str(info.get("/Title") or "").strip()
    except Exception:  # a damaged information dictionary: the text is still good
        return {}
    metadata: dict[str, str | FileDate] = {"title": title[:200]} if title and not _JUNK_TITLE.match(title) else {}
    for name, basis in (("creation_date", "the PDF's creation date"), ("modification_date", "the PDF's last change")):
        try:
            when = getattr(info, name, None)
        except Exception:  # a malformed date string ("D:2024-13-45"): left out, like an absent one
            when = None
        if when is not None:
            metadata[FILE_DATE] = FileDate(when.date().isoformat(), basis)
            break
    return metadata


def page_offsets(raw: str, raw_page_starts: tuple[int, ...], served: str) -> tuple[int, ...]:
    """Where each page starts in the served text, given where it starts in the captured text.

    Cleaning only removes characters (white space, line-end hyphens, furniture lines), so the
    served text's non-space characters appear in order in the captured text: walk both, and a
    page starts at the first served character captured at or after the page's start."""
    if not raw_page_starts:
        return ()
    offsets = [0] * len(raw_page_starts)
    page, position = 1, 0
    for index, char in enumerate(served):
        if page == len(raw_page_starts):
            break
        if char.isspace():
            continue
        found = raw.find(char, position)
        if found < 0:
            break
        while page < len(raw_page_starts) and raw_page_starts[page] <= found:
            offsets[page] = index
            page += 1
        position = found + 1
    for rest in range(page, len(raw_page_starts)):
        offsets[rest] = len(served)
    return tuple(offsets)


# --- HTML ---------------------------------------------------------------------------------------


def extract_html(path: Path, data: bytes) -> Extracted:
    import logging

    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    try:
        xml = trafilatura.extract(
            data, output_format="xml", include_comments=False, include_tables=True, include_images=False,
            include_links=False, include_formatting=False, deduplicate=False,
        )
        text = _xml_to_text(xml) if xml else ""
    except Exception as error:
        raise unreadable(path, error) from None
    if not text.strip():
        raise CorpusError(f"{path.name}: no main text found in the page (only navigation or boilerplate)")
    metadata: dict = {}
    try:
        found = trafilatura.extract_metadata(data.decode("utf-8", "replace"), extensive=False)
    except Exception:
        found = None
    if found is not None:
        if found.title:
            metadata["title"] = found.title.strip()[:200]
        if found.sitename:
            metadata["publisher"] = found.sitename.strip()
        if found.date and date_problem(found.date) is None:  # a page's own date out of range: left out
            metadata["date"] = found.date
        if found.url and found.url.startswith(("http://", "https://")):
            metadata["url"] = found.url
        if found.language:
            metadata["language"] = found.language
    return Extracted(text, markdown=True, metadata=metadata)


def _xml_to_text(xml: str) -> str:
    """trafilatura's XML (head, p, list/item, table/row/cell, quote) as Markdown-like captured text:
    one block per element, `#`/`##` headings, `- ` list items, no inline formatting marks."""
    from lxml import etree

    root = etree.fromstring(xml.encode("utf-8"))
    parts: list[str] = []

    def flat(element) -> str:
        return " ".join("".join(element.itertext()).split())

    def walk(element) -> None:
        for child in element:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag == "head":
                level = re.fullmatch(r"h(\d)", child.get("rend") or "")
                parts.append(("#" if level and level.group(1) == "1" else "##") + " " + flat(child))
            elif tag == "list":
                parts.extend(f"- {flat(item)}" for item in child.iterfind("item") if flat(item))
            elif tag == "table":
                for row in child.iter("row"):
                    cells = [flat(cell) for cell in row.iterfind("cell") if flat(cell)]
                    if cells:
                        parts.append(" | ".join(cells))
            elif tag in ("div", "main", "quote") and len(child):
                walk(child)
            elif tag != "comments" and flat(child):
                parts.append(flat(child))

    main = root.find("main")
    walk(main if main is not None else root)
    return "\n\n".join(part for part in parts if part.strip(" #-"))


# --- Word ---------------------------------------------------------------------------------------


def check_docx(path: Path, data: bytes, limits: ExtractionLimits) -> None:
    """Refuse a Word file whose parts would inflate past the limits, before python-docx reads them:
    the declared sizes of the parts (zipfile holds each part to its declared size while inflating)
    and, streamed through lxml's iterparse, every text node and attribute of `word/document.xml`."""
    import zipfile

    from lxml import etree

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
            if len(parts) > limits.max_docx_parts:
                raise CorpusError(f"{path.name} holds {len(parts):,} parts; the limit is {limits.max_docx_parts:,} "
                                  "(setting ASSISTANT_MAX_DOCX_PARTS): it is not a usual Word file")
            unpacked = sum(part.file_size for part in parts)
            if unpacked > limits.max_docx_unpacked_bytes:
                raise CorpusError(f"{path.name} unpacks to {_size(unpacked)}; the limit is "
                                  f"{_size(limits.max_docx_unpacked_bytes)} (setting ASSISTANT_MAX_DOCX_UNPACKED_BYTES): "
                                  "split it or raise the limit")
            names = {part.filename for part in parts}
            if "word/document.xml" not in names:
                return  # python-docx says what is missing
            with archive.open("word/document.xml") as stream:
                for _, element in etree.iterparse(stream, events=("end",), resolve_entities=False, no_network=True,
                                                  load_dtd=False, huge_tree=False):
                    longest = max([len(element.text or ""), len(element.tail or ""),
                                   *(len(value) for value in element.attrib.values())])
                    if longest > limits.max_xml_text_chars:
                        raise CorpusError(f"{path.name} has a text node of {longest:,} characters in word/document.xml; "
                                          f"the limit is {limits.max_xml_text_chars:,} (setting "
                                          "ASSISTANT_MAX_XML_TEXT_CHARS): it is not a usual Word file")
                    element.clear(keep_tail=False)
                    while element.getprevious() is not None:  # what was read is let go: memory stays flat
                        del element.getparent()[0]
    except CorpusError:
        raise
    except Exception as error:  # BadZipFile, zlib.error (damaged compressed data), lxml's errors...
        raise unreadable(path, error) from None


def extract_docx(path: Path, data: bytes, limits: ExtractionLimits) -> Extracted:
    check_docx(path, data, limits)
    try:
        parts, properties = _docx_parts(data)
    except Exception as error:  # a damaged package fails in zipfile, lxml or python-docx, in many ways
        raise unreadable(path, error) from None
    if not parts:
        raise CorpusError(f"{path.name} has no text: add its text or pick another file")
    title, file_date = properties
    metadata: dict = {"title": title[:200]} if title and not _JUNK_TITLE.match(title) else {}
    if file_date is not None:
        metadata[FILE_DATE] = file_date
    return Extracted("\n\n".join(parts), markdown=True, metadata=metadata)


_PYTHON_DOCX_TEMPLATE_CREATED = datetime(2013, 12, 23, 23, 15)
"""The creation time python-docx's blank template carries into every file made from it: not a date
of the file's content."""


def _docx_parts(data: bytes) -> tuple[list[str], tuple[str, FileDate | None]]:
    """The blocks of a Word file in body order (headings, list items, table rows), its title and
    the date it records of itself (created, else last modified)."""
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(data))
    parts: list[str] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                cells: list[str] = []
                for cell in row.cells:
                    text = " ".join(cell.text.split())
                    if text and (not cells or cells[-1] != text):  # merged cells repeat their text
                        cells.append(text)
                if cells:
                    parts.append(" | ".join(cells))
            continue
        text = item.text.strip()
        if not text:
            continue
        style = (item.style.name if item.style is not None else "") or ""
        heading = re.match(r"(?:Heading|Заголовок)\s*(\d)", style)
        if style == "Title":
            parts.append(f"# {text}")
        elif heading:
            parts.append("#" * min(6, max(1, int(heading.group(1)))) + f" {text}")
        elif style.startswith("List"):
            parts.append(f"- {text}")
        else:
            parts.append(text)
    core = document.core_properties
    file_date = None
    for when, basis in ((core.created, "the Word file's creation date"), (core.modified, "the Word file's last change")):
        if when is not None and when.replace(tzinfo=None) != _PYTHON_DOCX_TEMPLATE_CREATED:
            file_date = FileDate(when.date().isoformat(), basis)
            break
    return parts, ((core.title or "").strip(), file_date)


def first_line(error: BaseException) -> str:
    """What `error` says, as one short line of printable text (a parser's message can quote the
    file's own bytes)."""
    try:
        text = strip_controls(str(error).splitlines()[0]) if str(error).strip() else ""
    except Exception:  # an exception whose str() fails too
        text = ""
    return (text or type(error).__name__)[:160]
