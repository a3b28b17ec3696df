"""Documents read within a time budget in a worker process (issue 28, finding 1): one past its budget
is refused in one line that names it and its worker is killed; a worker that dies refuses its
document the same way; what the worker reads is what this process would; a corpus build skips
(and names) what cannot be read, except a file the change brings in."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from pathlib import Path

import pytest
from doc_fixtures import make_deep_pdf, make_docx, make_html, make_pdf

from assistant.errors import CorpusError
from assistant.ingest.corpus import Overlay
from assistant.ingest.reader import DocumentReader, read_corpus, read_here
from assistant.settings import Settings

SETTINGS = Settings()
LIMITS = SETTINGS.extraction_limits
CHUNKING = SETTINGS.chunk_sizes
LINE = "Peer outreach workers visited saunas in Almaty and offered rapid tests to the women they met there\n"


def _budget(seconds: float):
    return dataclasses.replace(LIMITS, max_document_seconds=seconds)


def _paragraph(path: Path, megabytes: float) -> Path:
    """One hard-wrapped paragraph (no blank line, no full stop): about 1.4 s a megabyte to clean here."""
    path.write_text(LINE * int(megabytes * 1e6 / len(LINE)), encoding="utf-8")
    return path


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_document_past_its_budget_is_refused_and_its_worker_killed(tmp_path):
    quick = tmp_path / "quick.txt"
    quick.write_text("Quick note\n\nThe clinic tests for free.\n", encoding="utf-8")
    slow = _paragraph(tmp_path / "one-paragraph.txt", 3)
    with DocumentReader(_budget(0.3), CHUNKING) as reader:
        assert reader.read(quick).document.doc_id == "quick"
        worker = reader._worker.pid
        started = time.monotonic()
        with pytest.raises(CorpusError) as refused:
            reader.read(slow)
        waited = time.monotonic() - started
        assert str(refused.value) == ("one-paragraph.txt took more than 0.3 s to read (setting "
                                      "ASSISTANT_MAX_DOCUMENT_SECONDS): split it, save it in a simpler format (.txt), "
                                      "or raise the limit")
        assert waited < 5, f"refused after {waited:.1f} s"
        assert _gone(worker)
        assert reader.read(quick).document.text == "Quick note\n\nThe clinic tests for free."  # a new worker
        assert reader._worker.pid != worker
    with DocumentReader(_budget(0), CHUNKING) as reader:  # 0: no budget, read here
        assert reader.read(quick).document.doc_id == "quick" and reader._worker is None


def test_a_worker_that_dies_refuses_its_document_in_one_line(tmp_path):
    slow = _paragraph(tmp_path / "killed.txt", 3)
    with DocumentReader(_budget(60), CHUNKING) as reader:
        reader._started()
        worker = reader._worker
        threading.Timer(0.3, worker.kill).start()  # as the kernel's out-of-memory killer would
        with pytest.raises(CorpusError, match=r"^killed\.txt stopped the process reading it \(SIGKILL\): it may be "
                                              r"damaged, or too big for this machine's memory; save it again, or "
                                              r"split it$"):
            reader.read(slow)


def test_the_worker_reads_what_this_process_reads_and_logs_its_warnings(tmp_path, caplog):
    files = [make_pdf(tmp_path / "field-report.pdf", title=None), make_html(tmp_path / "night-bus.html"),
             make_docx(tmp_path / "shelter.docx")]
    with DocumentReader(_budget(60), CHUNKING) as reader, caplog.at_level(logging.WARNING):
        there = [reader.read(path) for path in files]
        assert caplog.messages == ["field-report.pdf has no metadata (field-report.toml): using its first line as "
                                   "the title"]  # logged in the worker, logged again here
        assert there == [read_here(path, LIMITS, CHUNKING) for path in files]
        with pytest.raises(CorpusError, match=r"^deep\.pdf is not a readable PDF \(Maximum page tree depth"):
            reader.read(make_deep_pdf(tmp_path / "deep.pdf"))
        assert reader.read(files[0]) == read_here(files[0], LIMITS, CHUNKING)  # a refusal does not end the worker


def test_a_corpus_is_read_without_what_cannot_be_read_but_a_staged_file_must_be(tmp_path, caplog):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "alpha.txt").write_text("Alpha\n\nThe alpha clinic tests for free.\n", encoding="utf-8")
    (corpus / "beta.txt").write_text("Beta\n\nThe beta clinic opens on Mondays.\n", encoding="utf-8")
    make_deep_pdf(corpus / "deep.pdf")
    with caplog.at_level(logging.WARNING):
        found = read_corpus(corpus, _budget(60), CHUNKING)
    assert [d.doc_id for d in found.documents] == ["alpha", "beta"]
    assert [p.passage_id for p in found.passages] == list(range(len(found.passages)))
    assert [name for name, _ in found.skipped] == ["deep.pdf"]
    assert "skipped deep.pdf: deep.pdf is not a readable PDF" in caplog.text
    staged = tmp_path / "staged"
    staged.mkdir()
    make_deep_pdf(staged / "incoming.pdf")
    with pytest.raises(CorpusError, match=r"^incoming\.pdf is not a readable PDF"):
        read_corpus(corpus, _budget(60), CHUNKING, Overlay(staged=staged))
    (corpus / "alpha.txt").unlink()
    (corpus / "beta.txt").unlink()
    with pytest.raises(CorpusError, match=r"^deep\.pdf is not a readable PDF"):  # nothing left: the one reason
        read_corpus(corpus, _budget(60), CHUNKING)
