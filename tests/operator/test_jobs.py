"""A change run as a job: its progress reports reach it, one runs at a time, its failure is kept
as the one-line error it was, and a guess at the time left follows the pace."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from assistant.embedding.base import encode_in_batches
from assistant.errors import CorpusError
from assistant.operator.jobs import FAILED, Jobs
from assistant.progress import report, watching
from assistant.store.transaction import CollectionBusyError


def test_a_jobs_progress_reports_reach_it_and_its_result_is_kept():
    release = threading.Event()
    reached = threading.Event()

    def work():
        report("passages", 3, 12)
        reached.set()
        release.wait(10)
        report("writing")
        return "added"

    jobs = Jobs()
    job = jobs.start("upload", ["a"], work)
    assert reached.wait(10)
    assert (job.state, job.step, job.done, job.total) == ("running", "passages", 3, 12)
    assert job.seconds_left() is not None and job.seconds_left() >= 1
    with pytest.raises(CollectionBusyError):
        jobs.start("remove", ["b"], lambda: None)
    release.set()
    assert job.finished.wait(10)
    assert (job.state, job.step, job.result, job.error) == ("done", "writing", "added", None)
    assert jobs.get(job.id) is job and jobs.get("nope") is None
    # Reports outside a job go nowhere (the command line watches none).
    report("reading", 1, 2)
    assert job.step == "writing"


def test_a_failed_job_keeps_its_one_line_error_and_an_unexpected_one_says_to_look_at_the_log(caplog):
    jobs = Jobs()

    def refused():
        raise CorpusError("bad.pdf is encrypted: remove the password and add it again")

    job = jobs.start("upload", ["bad"], refused)
    assert job.finished.wait(10)
    assert job.state == "failed" and "encrypted" in str(job.error)

    def broken():
        raise RuntimeError("a bug")

    job = jobs.start("edit", ["x"], broken)
    assert job.finished.wait(10)
    assert job.state == "failed" and str(job.error) == FAILED
    assert "a bug" in caplog.text  # the details for whoever keeps the server, not for the page


def test_encoding_in_batches_reports_each_batch_to_the_watcher():
    seen = []
    with watching(lambda step, done, total: seen.append((step, done, total))):
        encode_in_batches(lambda batch: np.ones((len(batch), 4), dtype=np.float32), ["a"] * 10, dimension=4,
                          batch_size=4, progress=False, description="e5 sentences")
    assert seen == [("sentences", 0, 10), ("sentences", 4, 10), ("sentences", 8, 10), ("sentences", 10, 10)]
