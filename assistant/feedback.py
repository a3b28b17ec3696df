"""Readers' judgements of passages, kept (only when the operator turns `feedback` on) in a local
SQLite file so they can grow the gold set.

A judgement is a question, the passage shown for it (document and character span, and its
highlighted sentence(s)) and a verdict: "answers" (the passage answers the question) or "wrong".
One row per question and passage: judging the same passage again replaces the verdict, so one
reader clicking many times adds nothing. `export_gold` turns the "answers" judgements into gold
lines (the format of `eval/gold.jsonl`, see design.md) for an operator to review and append.
Nothing here leaves the machine.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

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
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=10)) as connection:
        connection.execute(SCHEMA)
        with connection:
            yield connection


def record(path: Path, judgement: Judgement) -> None:
    """Keep `judgement` in the SQLite file `path` (created on first use); a verdict on a passage
    already judged for the same question replaces the earlier one."""
    with _connect(path) as connection:
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
