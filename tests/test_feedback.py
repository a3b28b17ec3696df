"""The feedback store (assistant/feedback.py): what it keeps is the operator's alone (mode 0600),
bounded (a cap, an age), and `purge` deletes it for good (issue 28, finding 7)."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta

import pytest

from assistant.cli import main
from assistant.feedback import FeedbackFullError, Judgement, judgements, purge, record

SECRET = "где бесплатно сдать тест на ВИЧ без прописки 7f3a9c"


def judged(question: str = SECRET, start: int = 0) -> Judgement:
    return Judgement(question, "ru", "doc", start, start + 10, "highlight", "answers")


def test_the_store_is_made_readable_by_its_owner_only_whatever_the_umask(tmp_path):
    """Before: made with the umask's mode (0644: world-readable)."""
    path = tmp_path / "feedback.db"
    before = os.umask(0o022)
    try:
        record(path, judged())
    finally:
        os.umask(before)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_older_world_readable_store_is_narrowed_on_next_use(tmp_path):
    path = tmp_path / "feedback.db"
    record(path, judged())
    path.chmod(0o644)
    record(path, judged(start=5))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_store_keeps_at_most_its_cap_of_judgements(tmp_path):
    path = tmp_path / "feedback.db"
    for n in range(3):
        record(path, judged(f"question {n}"), max_judgements=3)
    with pytest.raises(FeedbackFullError, match="feedback purge"):
        record(path, judged("one more"), max_judgements=3)
    record(path, judged("question 1"), max_judgements=3)  # a changed verdict on a kept passage is no new row
    assert len(judgements(path)) == 3


def test_judgements_older_than_the_keeping_time_are_deleted(tmp_path):
    path = tmp_path / "feedback.db"
    record(path, judged("old"))
    long_ago = (datetime.now(UTC) - timedelta(days=100)).isoformat(timespec="seconds")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE judgements SET judged_at = ?", (long_ago,))
    record(path, judged("new"), keep_days=90)
    assert [j.question for j in judgements(path)] == ["new"]


def test_purge_deletes_every_judgement_and_leaves_no_trace_of_the_questions_in_the_file(tmp_path):
    path = tmp_path / "feedback.db"
    for n in range(50):
        record(path, judged(f"{SECRET} {n}"))
    assert SECRET.encode() in path.read_bytes()
    assert purge(path) == 50
    assert judgements(path) == [] and SECRET.encode() not in path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_feedback_purge_command_asks_unless_told_yes(tmp_path, monkeypatch, capsys):
    path = tmp_path / "feedback.db"
    record(path, judged())
    monkeypatch.setenv("ASSISTANT_FEEDBACK_FILE", str(path))
    monkeypatch.setattr("sys.stdin", open(os.devnull))  # no terminal to ask on
    assert main(["feedback", "purge"]) == 2
    assert "--yes" in capsys.readouterr().err and len(judgements(path)) == 1
    assert main(["feedback", "purge", "--yes"]) == 0
    assert "deleted 1 judgement" in capsys.readouterr().out and judgements(path) == []


def test_an_os_error_the_command_did_not_expect_is_one_line_with_exit_2(tmp_path, monkeypatch, capsys):
    """The CLI's last resort for an OSError (here: exporting into a folder that does not exist)."""
    path = tmp_path / "feedback.db"
    record(path, judged())
    monkeypatch.setenv("ASSISTANT_FEEDBACK_FILE", str(path))
    assert main(["feedback", "export", "--out", str(tmp_path / "missing" / "gold.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "No such file or directory" in err
    assert "Traceback" not in err and str(tmp_path / "missing" / "gold.jsonl") in err
