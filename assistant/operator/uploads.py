"""Files an operator uploads, made safe to hand to `add_documents`: the content decides the format
(a PDF renamed .docx is refused, not parsed as Word), and the client's file name never becomes a
path: each file is written under a name made here (its document id and the sniffed suffix) into a
private temporary folder.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import CorpusError
from assistant.i18n import N_

UPLOAD_PATH = "/api/operator/documents"
"""The upload route: allowed a larger body than the rest of the API (`max_upload_bytes`)."""

_KINDS = {".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html", ".txt": "text", ".md": "text"}
_KIND_NAMES = {"pdf": "a PDF", "docx": "a Word document (.docx)", "html": "a web page (HTML)", "text": "plain text",
               "zip": "a zip archive that is not a Word document", "binary": "binary data"}
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)


@dataclass(frozen=True)
class Upload:
    """One uploaded file as the client sent it."""

    filename: str
    data: bytes


def sniff(data: bytes) -> str:
    """The kind of `data` by its first bytes: pdf, docx, html, text, zip (not Word) or binary."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except (zipfile.BadZipFile, ValueError, OSError):
            return "binary"
        return "docx" if "word/document.xml" in names else "zip"
    head = data[:4096]
    if b"\x00" in head:
        return "binary"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # not just a character cut at the 4096th byte
            return "binary"
    return "html" if _HTML_START.match(head) else "text"


def safe_name(upload: Upload) -> str:
    """`doc-id.suffix` for an upload whose content is the format its name says; else a CorpusError
    that says what the file really is. The id comes from the name's letters and digits (a name
    with none, such as one in Cyrillic, gets `upload-` and a part of the content's sha256)."""
    name = Path(upload.filename.replace("\\", "/")).name  # never a folder: only the last part, as text
    suffix = Path(name).suffix.lower()
    claimed = _KINDS.get(suffix)
    if claimed is None:
        raise CorpusError(N_("{name}: unsupported format {suffix}; upload .pdf, .docx, .html, .txt or .md"),
                          name=name[:80], suffix=suffix or "(no extension)")
    found = sniff(upload.data)
    if found != claimed:
        raise CorpusError(N_("{name} is {found}, not {claimed}: rename it or upload the right file"),
                          name=name[:80], found=_KIND_NAMES[found], claimed=suffix)
    stem = re.sub(r"[^a-z0-9]+", "-", Path(name).stem.lower()).strip("-")[:60].strip("-")
    if not stem:
        stem = "upload-" + hashlib.sha256(upload.data).hexdigest()[:10]
    return f"{stem}{'.html' if suffix == '.htm' else suffix}"


def stage(uploads: list[Upload], folder: Path) -> list[Path]:
    """Each upload written into `folder` (a private temporary one) under its safe name."""
    paths: list[Path] = []
    for upload in uploads:
        path = folder / safe_name(upload)
        if path in paths:
            raise CorpusError(N_("two of the files would have the same document id {doc_id}: rename one"),
                              doc_id=path.stem)
        path.write_bytes(upload.data)
        paths.append(path)
    return paths
