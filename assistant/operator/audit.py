"""The operator's audit trail: which change, when, by which signed-in session or token. One JSON
line per change in `Settings.operator_audit_file` (mode 0600, appended durably); it holds no
question and no IP address. Shown on the operator page and by `assistant operator log`.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from assistant.files import append_durably

MAX_LINE_CHARS = 4000


@dataclass(frozen=True)
class Entry:
    """One change: when (UTC, ISO 8601), what (`upload`, `remove`, `sign-in`, `sign-out`), by whom
    (`session 1a2b3c4d`: a hash's start, not the cookie; or `token NAME`), and the documents."""

    when: str
    action: str
    by: str
    documents: list[str]


def record(path: Path, action: str, by: str, documents: list[str] | None = None) -> Entry:
    entry = Entry(datetime.now(UTC).replace(microsecond=0).isoformat(), action, by, list(documents or []))
    append_durably(path, json.dumps(asdict(entry), ensure_ascii=False))
    return entry


def read(path: Path, last: int | None = None) -> list[Entry]:
    """The trail's entries, oldest first (the `last` ones only, when given); a line that is not
    an entry (a crash cut it short) is skipped."""
    entries: deque[Entry] = deque(maxlen=last)
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                data = json.loads(line[:MAX_LINE_CHARS])
                entries.append(Entry(str(data["when"]), str(data["action"]), str(data["by"]),
                                     [str(d) for d in data["documents"]]))
            except (ValueError, KeyError, TypeError):
                continue
    return list(entries)
