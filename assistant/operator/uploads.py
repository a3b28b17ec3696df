"""Files an operator uploads, made safe to hand to `add_documents`: the content decides the format
(a PDF renamed .docx is refused, not parsed as Word), and the client's file name never becomes a
path: each file is written under a name made here (its document id and the sniffed suffix) into a
private temporary folder.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import threading
import time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import CorpusError
from assistant.i18n import N_, Message
from assistant.ingest.corpus import name_slug

UPLOAD_PATH = "/api/operator/documents"
PREVIEW_PATH = "/api/operator/documents/preview"
PAGE_UPLOAD_PATH = "/operator/upload"
UPLOAD_ROUTES = (("POST", UPLOAD_PATH), ("POST", PREVIEW_PATH), ("POST", PAGE_UPLOAD_PATH))
"""The routes that take files: allowed a larger body than the rest of the app (`max_upload_bytes`)."""
PENDING_SECONDS = 30 * 60
TOO_MANY_FILES = N_("at most {n} files at a time")

_KINDS = {".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html", ".txt": "text", ".md": "text"}
_KIND_NAMES = {"pdf": N_("a PDF"), "docx": N_("a Word document (.docx)"), "html": N_("a web page (HTML)"),
               "text": N_("plain text"), "zip": N_("a zip archive that is not a Word document"),
               "binary": N_("binary data")}
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
    that says what the file really is. The id comes from the name's letters and digits,
    transliterated as `assistant add` does (`corpus.name_slug`); a name with none, such as "—.pdf",
    gets `upload-` and a part of the content's sha256."""
    name = Path(upload.filename.replace("\\", "/")).name  # never a folder: only the last part, as text
    suffix = Path(name).suffix.lower()
    claimed = _KINDS.get(suffix)
    if claimed is None:
        raise CorpusError(N_("{name}: unsupported format {suffix}; upload .pdf, .docx, .html, .txt or .md"),
                          name=name[:80], suffix=suffix or "(no extension)")
    found = sniff(upload.data)
    if found != claimed:
        raise CorpusError(N_("{name} is {found}, not {claimed}: rename it or upload the right file"),
                          name=name[:80], found=Message(_KIND_NAMES[found]), claimed=suffix)
    stem = name_slug(Path(name).stem)[:60].strip("-")
    if not stem:
        stem = "upload-" + hashlib.sha256(upload.data).hexdigest()[:10]
    return f"{stem}{'.html' if suffix == '.htm' else suffix}"


def safe_names(uploads: list[Upload]) -> list[str]:
    """Each upload's safe name (see `safe_name`); a CorpusError for the first refused, or for two
    that would be the same document."""
    names: list[str] = []
    for upload in uploads:
        name = safe_name(upload)
        if any(Path(name).stem == Path(other).stem for other in names):
            raise CorpusError(N_("two of the files would have the same document id {doc_id}: rename one"),
                              doc_id=Path(name).stem)
        names.append(name)
    return names


def stage(uploads: list[Upload], folder: Path) -> list[Path]:
    """Each upload written into `folder` (a private temporary one) under its safe name."""
    paths = [folder / name for name in safe_names(uploads)]
    for path, upload in zip(paths, uploads, strict=True):
        path.write_bytes(upload.data)
    return paths


@dataclass
class Pending:
    """Uploads an operator was shown, to be confirmed (with corrected details) or dropped."""

    id: str
    session_id: str
    uploads: list[Upload]
    found: list[Any]
    """What was found in them and shown (the API's previews), to show again with a refusal."""
    created: float = field(default_factory=time.monotonic)

    @property
    def size(self) -> int:
        return sum(len(upload.data) for upload in self.uploads)


class PendingUploads:
    """Uploads waiting for their operator's confirmation, in memory only (nothing is written before
    the operator confirms): one per session (a new upload replaces it), each for PENDING_SECONDS,
    and at most `max_bytes` all told (the oldest dropped first)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._pending: OrderedDict[str, Pending] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, session_id: str, uploads: list[Upload], found: list[Any]) -> Pending:
        pending = Pending(secrets.token_urlsafe(16), session_id, uploads, found)
        with self._lock:
            for key in [key for key, old in self._pending.items() if old.session_id == session_id]:
                del self._pending[key]
            self._pending[pending.id] = pending
            while sum(item.size for item in self._pending.values()) > self.max_bytes and len(self._pending) > 1:
                self._pending.popitem(last=False)
        return pending

    def get(self, pending_id: str, session_id: str | None) -> Pending | None:
        """The session's pending upload with this id (None when unknown, expired or another's)."""
        with self._lock:
            pending = self._pending.get(pending_id)
            if pending is not None and time.monotonic() - pending.created > PENDING_SECONDS:
                del self._pending[pending_id]
                return None
        return pending if pending is not None and pending.session_id == session_id else None

    def drop(self, pending_id: str) -> None:
        with self._lock:
            self._pending.pop(pending_id, None)
