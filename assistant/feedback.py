"""Readers' judgements of passages, kept (only when the operator turns `feedback` on) in a local
SQLite file so they can grow the gold set.

A judgement is a question, the passage shown for it (document and character span, and its
highlighted sentence(s)) and a verdict: "answers" (the passage answers the question) or "wrong".
One row per question and passage: judging the same passage again replaces the verdict, so one
reader clicking many times adds nothing. `export_gold` turns the "answers" judgements into gold
lines (the format of `eval/gold.jsonl`, see design.md) for an operator to review and append.
Nothing here leaves the machine, and what is kept is bounded: the file is readable by its owner
only (mode 0600), holds at most a set number of judgements, forgets them after a set number of
days, and `purge` deletes them for good (SQLite's secure_delete overwrites deleted rows, and the
file is rebuilt): the questions people typed do not linger.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from assistant.errors import AssistantError
from assistant.i18n import N_

Verdict = Literal["answers", "wrong"]
VERDICTS: tuple[Verdict, ...] = ("answers", "wrong")

SCHEMA = """
CREATE TABLE IF NOT EXISTS judgements (
    id INTEGER PRIMARY KEY,
    question TEXT NOT NULL,
    question_language TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    passage_start INTEGER NOT NULL,
    passage_end INTEGER NOT NULL,
    highlight TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('answers', 'wrong')),
    judged_at TEXT NOT NULL,
    UNIQUE (question, doc_id, passage_start, passage_end)
)
"""
AGE_INDEX = "CREATE INDEX IF NOT EXISTS judgements_by_age ON judgements (judged_at)"
MODE = 0o600
"""The file's mode: questions people typed, for the operator's eyes only."""


class FeedbackFullError(AssistantError):
    """The store holds as many judgements as it may; an operator exports and purges them."""


@dataclass(frozen=True)
class Judgement:
    """One reader's verdict on one passage shown for one question."""

    question: str
    question_language: str
    doc_id: str
    start: int
    end: int
    highlight: str
    verdict: Verdict


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    """The store, made on first use with mode 0600 before SQLite opens it (so it is never readable by
    others, even for a moment; SQLite gives its journal the same mode), and an older, looser file
    narrowed to it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, MODE))
    if path.stat().st_mode & 0o777 != MODE:
        os.chmod(path, MODE)
    with closing(sqlite3.connect(path, timeout=10)) as connection:
        connection.execute("PRAGMA secure_delete = ON")
        connection.execute(SCHEMA)
        connection.execute(AGE_INDEX)
        with connection:
            yield connection


def record(path: Path, judgement: Judgement, *, max_judgements: int | None = None, keep_days: int = 0) -> None:
    """Keep `judgement` in the SQLite file `path` (created on first use); a verdict on a passage
    already judged for the same question replaces the earlier one. Judgements older than
    `keep_days` days (0: none) are deleted first; a new one beyond `max_judgements` is refused
    (FeedbackFullError)."""
    with _connect(path) as connection:
        if keep_days:
            oldest = (datetime.now(UTC) - timedelta(days=keep_days)).isoformat(timespec="seconds")
            connection.execute("DELETE FROM judgements WHERE judged_at < ?", (oldest,))
        if max_judgements is not None:
            (kept,) = connection.execute("SELECT COUNT(*) FROM judgements").fetchone()
            known = connection.execute(
                "SELECT 1 FROM judgements WHERE question = ? AND doc_id = ? AND passage_start = ? AND passage_end = ?",
                (judgement.question, judgement.doc_id, judgement.start, judgement.end)).fetchone()
            if kept >= max_judgements and known is None:
                raise FeedbackFullError(N_("the feedback store is full ({n} judgements): the operator exports them "
                                           "(`assistant feedback export`) and empties it (`assistant feedback purge`)"),
                                        n=kept)
        connection.execute(
            """INSERT INTO judgements (question, question_language, doc_id, passage_start, passage_end, highlight,
                                       verdict, judged_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (question, doc_id, passage_start, passage_end)
               DO UPDATE SET verdict = excluded.verdict, highlight = excluded.highlight,
                             question_language = excluded.question_language, judged_at = excluded.judged_at""",
            (judgement.question, judgement.question_language, judgement.doc_id, judgement.start, judgement.end,
             judgement.highlight, judgement.verdict, datetime.now(UTC).isoformat(timespec="seconds")),
        )


def purge(path: Path) -> int:
    """Delete every judgement for good (the file rebuilt, the deleted rows' bytes overwritten); how
    many there were."""
    if not path.is_file():
        return 0
    with _connect(path) as connection:
        (count,) = connection.execute("SELECT COUNT(*) FROM judgements").fetchone()
        connection.execute("DELETE FROM judgements")
    with closing(sqlite3.connect(path, timeout=10)) as connection:
        connection.execute("VACUUM")
    return count


def judgements(path: Path) -> list[Judgement]:
    """Every judgement in the file, oldest first (none when the file does not exist)."""
    if not path.is_file():
        return []
    with _connect(path) as connection:
        rows = connection.execute(
            "SELECT question, question_language, doc_id, passage_start, passage_end, highlight, verdict "
            "FROM judgements ORDER BY id").fetchall()
    return [Judgement(*row) for row in rows]


def export_gold(path: Path, split: str = "dev") -> list[dict]:
    """Gold lines from the "answers" judgements: one per question, its `answers` the judged
    passages' highlighted text, `doc` the first of their documents. Questions judged only "wrong"
    give no line (the gold format has no place for a wrong passage)."""
    by_question: dict[str, dict] = {}
    for judgement in judgements(path):
        if judgement.verdict != "answers":
            continue
        line = by_question.setdefault(judgement.question, {
            "id": "fb-" + hashlib.sha256(judgement.question.encode()).hexdigest()[:10],
            "question": judgement.question,
            "answers": [],
            "out_of_scope": False,
            "split": split,
            "doc": judgement.doc_id,
            "lang": judgement.question_language,
            "source": "feedback",
        })
        answer = " ".join(judgement.highlight.split())
        if answer and answer not in line["answers"]:
            line["answers"].append(answer)
    return [line for line in by_question.values() if line["answers"]]


def gold_lines(path: Path, split: str = "dev") -> str:
    """`export_gold` as JSON Lines text, ready to review and append to `eval/gold.jsonl`."""
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in export_gold(path, split))
