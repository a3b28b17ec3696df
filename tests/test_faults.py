"""Fault injection on real processes (issue 15, findings 1 and 2): `assistant add`, `remove` and
`index`, and an operator's correction of a document's details (`edit_document`), stopped at named
steps (ASSISTANT_TEST_PAUSE_AT, see assistant/transaction.py) and killed there with a real SIGKILL;
the next command (`assistant docs`, or `assistant serve` starting) completes or rolls back the
change with a one-line notice, and the collection is consistent: the corpus and the index agree
(an edit's details are the old ones or the new ones, in the sidecar and the index alike), nothing
is left over, and running the command again works. Two changes at once:
the second waits (or, with --no-wait, fails cleanly), neither is half-applied.

A small collection (two short documents) keeps each process to a couple of seconds."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from collection_checks import assert_consistent
from servers import free_port

from assistant.embedding import CachedEmbedder
from assistant.settings import Settings
from assistant.store.build import build_index
from assistant.store.index import load_index
from assistant.store.layout import current_build
from assistant.store.library import add_documents, edit_document, remove_document
from assistant.store.transaction import JOURNAL_FILE, PAUSE_ENV

REPO = Path(__file__).resolve().parent.parent
# Real `assistant` processes on a real index: the models, even where a test names no model fixture.
pytestmark = pytest.mark.models
ALPHA = "Alpha report\n\nSex work was decriminalised in 2001. Police raids on saunas continue in Almaty.\n"
BETA = "Beta note\n\nThere are 33 friendly cabinets across the country offering free HIV tests.\n"
GAMMA = "Gamma clinic\n\nThe gamma clinic in Shymkent tests migrants without propiska on Mondays.\n"
DELTA = "Delta shelter\n\nThe delta shelter in Karaganda takes survivors of trafficking for ninety days.\n"
EPSILON = "Epsilon line\n\nThe epsilon helpline answers legal questions about the trafficking law on Thursdays.\n"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, embedders) -> Path:
    """Two documents indexed once, their vectors in the index folder's own cache (which the
    processes started here use), and the files the tests add."""
    folder = tmp_path_factory.mktemp("faults")
    corpus = folder / "corpus"
    corpus.mkdir()
    (corpus / "alpha.txt").write_text(ALPHA, encoding="utf-8")
    (corpus / "alpha.toml").write_text('title = "Alpha report"\npublisher = "Alpha"\ndate = "2020"\n', encoding="utf-8")
    (corpus / "beta.txt").write_text(BETA, encoding="utf-8")
    (corpus / "beta.toml").write_text('title = "Beta note"\npublisher = "Beta"\ndate = "2021"\n', encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=folder / "index")
    build_index(settings, _cached(embedders, settings), progress=False)
    incoming = folder / "incoming"
    incoming.mkdir()
    for name, text in (("gamma", GAMMA), ("delta", DELTA), ("epsilon", EPSILON)):
        (incoming / f"{name}.txt").write_text(text, encoding="utf-8")
    return folder


def _cached(embedders, settings: Settings) -> dict:
    return {space: CachedEmbedder(embedder.inner, settings.embedding_cache_path) for space, embedder in embedders.items()}


@pytest.fixture
def collection(seeded, tmp_path) -> tuple[Settings, Path]:
    shutil.copytree(seeded, tmp_path / "c")
    return Settings(corpus_dir=tmp_path / "c" / "corpus", index_dir=tmp_path / "c" / "index"), tmp_path / "c" / "incoming"


def _command(settings: Settings, *args: str) -> list[str]:
    return [sys.executable, "-m", "assistant.cli", *args, "--corpus", str(settings.corpus_dir),
            "--index", str(settings.index_dir)]


# An operator's correction (PATCH /api/operator/documents/{doc_id}) runs `edit_document` in the
# server's process; it has no command of its own, so a process runs it alone, as the server would.
_EDIT = ("import json, sys; from pathlib import Path; from assistant.settings import Settings; "
         "from assistant.store.library import edit_document; "
         "edit_document(Settings(corpus_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2])), sys.argv[3], "
         "json.loads(sys.argv[4]))")


def _edit_command(settings: Settings, doc_id: str, changes: dict[str, str]) -> list[str]:
    return [sys.executable, "-c", _EDIT, str(settings.corpus_dir), str(settings.index_dir), doc_id, json.dumps(changes)]


def _start(settings: Settings, *args: str, pause: str | None = None,
           argv: list[str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop(PAUSE_ENV, None)
    if pause:
        env[PAUSE_ENV] = pause
    return subprocess.Popen(argv or _command(settings, *args), env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(process: subprocess.Popen, text: str, timeout: float = 120) -> str:
    """Read the process's stderr until a line holds `text`; what was read."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    process.kill()
    raise AssertionError(f"never saw {text!r}; stderr: {''.join(seen)[-2000:]}")


def _kill_at(settings: Settings, step: str, *args: str, argv: list[str] | None = None) -> None:
    process = _start(settings, *args, pause=step, argv=argv)
    _wait_for(process, f"paused at {step}")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def _next_command(settings: Settings) -> str:
    """`assistant docs`: the next command, which recovers; its stderr."""
    done = subprocess.run(_command(settings, "docs"), capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    return done.stderr


ADD_STEPS = {"locked": None, "staged": False, "embedded": False, "written": False, "switched": True,
             "completing": True}


@pytest.mark.parametrize("step", ADD_STEPS)
def test_kill_9_during_add_is_rolled_back_or_completed_by_the_next_command(collection, embedders, step):
    settings, incoming = collection
    _kill_at(settings, step, "add", str(incoming / "gamma.txt"))
    notice = _next_command(settings)
    completed = ADD_STEPS[step]
    lines = [line for line in notice.splitlines() if "interrupted `assistant add`" in line]
    if completed is None:  # killed holding the lock, before its journal: nothing had changed
        assert lines == []
    else:
        assert len(lines) == 1, notice
        assert ("completed" if completed else "rolled back") in lines[0] and "gamma" in lines[0]
    ids = assert_consistent(settings)
    assert ("gamma" in ids) is bool(completed)
    assert "interrupted" not in _next_command(settings)  # said once
    if not completed:  # retrying works (it was refused as "already has a document" before)
        add_documents(settings, [incoming / "gamma.txt"], embedders=_cached(embedders, settings))
        assert "gamma" in assert_consistent(settings)


REMOVE_STEPS = {"embedded": False, "written": False, "switched": True, "completing": True}


@pytest.mark.parametrize("step", REMOVE_STEPS)
def test_kill_9_during_remove_is_rolled_back_or_completed(collection, embedders, step):
    settings, _ = collection
    _kill_at(settings, step, "remove", "beta", "--yes")
    notice = _next_command(settings)
    completed = REMOVE_STEPS[step]
    assert ("completed" if completed else "rolled back") + " an interrupted `assistant remove`" in notice, notice
    ids = assert_consistent(settings)
    assert ("beta" in ids) is not completed
    if not completed:
        remove_document(settings, "beta", embedders=_cached(embedders, settings))
        assert assert_consistent(settings) == {"alpha"}


@pytest.mark.parametrize("step, completed", [("embedded", False), ("switched", True)])
def test_kill_9_during_index_keeps_one_whole_index(collection, embedders, step, completed):
    settings, incoming = collection
    before = current_build(settings.index_dir)
    shutil.copyfile(incoming / "delta.txt", settings.corpus_dir / "delta.txt")  # dropped in by hand
    _kill_at(settings, step, "index")
    notice = _next_command(settings)
    assert ("completed" if completed else "rolled back") + " an interrupted `assistant index`" in notice, notice
    assert (current_build(settings.index_dir) == before) is not completed
    if completed:
        assert "delta" in assert_consistent(settings)
    else:
        assert "delta" not in load_index(settings.index_dir, settings).documents
        build_index(settings, _cached(embedders, settings), progress=False)
        assert "delta" in assert_consistent(settings)


EDIT_STEPS = {"locked": None, "staged": False, "embedded": False, "written": False, "switched": True,
              "completing": True}
BETA_BEFORE = {"title": "Beta note", "date": "2021", "year": 2021}
BETA_AFTER = {"title": "Beta note, corrected", "date": "2023-05", "year": 2023}


def _details(settings: Settings, doc_id: str = "beta") -> tuple[dict, dict]:
    """A document's title, date and year as its sidecar says (the year implied by the date) and as
    the index in use says."""
    sidecar = tomllib.loads((settings.corpus_dir / f"{doc_id}.toml").read_text(encoding="utf-8"))
    metadata = load_index(settings.index_dir, settings).documents[doc_id].metadata
    return ({"title": sidecar.get("title"), "date": sidecar.get("date"),
             "year": sidecar.get("year", int(str(sidecar.get("date"))[:4]))},
            {"title": metadata.title, "date": metadata.date, "year": metadata.year})


def assert_edited(settings: Settings, expected: dict) -> None:
    """Beta's details are `expected` everywhere, its text file is whole, and the collection is consistent."""
    in_sidecar, in_index = _details(settings)
    assert in_sidecar == in_index == expected
    assert (settings.corpus_dir / "beta.txt").read_text(encoding="utf-8") == BETA
    assert assert_consistent(settings) == {"alpha", "beta"}


@pytest.mark.parametrize("step", EDIT_STEPS)
def test_kill_9_during_an_edit_keeps_the_old_details_or_the_new_ones_never_a_mix(collection, embedders, step):
    settings, _ = collection
    changes = {"title": BETA_AFTER["title"], "date": BETA_AFTER["date"]}
    _kill_at(settings, step, argv=_edit_command(settings, "beta", changes))
    notice = _next_command(settings)
    completed = EDIT_STEPS[step]
    lines = [line for line in notice.splitlines() if "interrupted `assistant edit`" in line]
    if completed is None:  # killed holding the lock, before its journal: nothing had changed
        assert lines == []
    else:
        assert len(lines) == 1, notice
        assert ("completed" if completed else "rolled back") in lines[0]
    assert_edited(settings, BETA_AFTER if completed else BETA_BEFORE)
    assert "interrupted" not in _next_command(settings)  # said once
    if not completed:  # making the change again works
        edit_document(settings, "beta", changes, embedders=_cached(embedders, settings))
        assert_edited(settings, BETA_AFTER)


def test_an_edit_whose_rebuild_fails_leaves_the_old_sidecar_and_index(collection, embedders, monkeypatch):
    settings, _ = collection
    sidecar = (settings.corpus_dir / "beta.toml").read_bytes()
    build = current_build(settings.index_dir)

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("assistant.store.backends.faiss.LexicalIndex.save", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        edit_document(settings, "beta", {"title": BETA_AFTER["title"], "date": BETA_AFTER["date"]},
                      embedders=_cached(embedders, settings))
    assert (settings.corpus_dir / "beta.toml").read_bytes() == sidecar
    assert current_build(settings.index_dir) == build
    assert_edited(settings, BETA_BEFORE)


def test_a_server_starting_after_a_killed_add_completes_it(collection):
    settings, incoming = collection
    _kill_at(settings, "switched", "add", str(incoming / "gamma.txt"))
    port = free_port()
    server = _start(settings, "serve", "--port", str(port))
    try:
        _wait_for(server, "completed an interrupted `assistant add`")
        _wait_for(server, "serving on")
        listed = None
        for _ in range(300):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.request("GET", "/api/documents")
                listed = {d["doc_id"] for d in json.loads(connection.getresponse().read())}
                break
            except OSError:
                time.sleep(0.1)
        assert listed == {"alpha", "beta", "gamma"}
        # The body limit on the real server (uvicorn): 200 MB announced, and a chunked body.
        assert _raw_status(port, b"Content-Length: 200000000\r\n", b"") == 413
        chunk = b'{"question": "' + b"x" * 70_000 + b'"}'
        assert _raw_status(port, b"Transfer-Encoding: chunked\r\n", b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk)) == 413
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert assert_consistent(settings) == {"alpha", "beta", "gamma"}


def _raw_status(port: int, headers: bytes, body: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + headers
                     + b"\r\n" + body)
        return int(sock.recv(4096).split(b" ", 2)[1])


def test_two_adds_at_once_the_second_waits_and_a_third_with_no_wait_fails_cleanly(collection):
    settings, incoming = collection
    first = _start(settings, "add", str(incoming / "gamma.txt"), pause="embedded")
    _wait_for(first, "paused at embedded")
    second = _start(settings, "add", str(incoming / "delta.txt"))
    waiting = _wait_for(second, "waiting for it to finish")
    assert f"another `assistant add` (pid {first.pid})" in waiting
    third = subprocess.run(_command(settings, "add", str(incoming / "epsilon.txt"), "--no-wait"), capture_output=True,
                           text=True, timeout=120, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert third.returncode == 2
    errors = [line for line in third.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "is changing the collection" in errors[0] and "Traceback" not in third.stderr
    assert not (settings.corpus_dir / "epsilon.txt").exists()
    os.kill(first.pid, signal.SIGUSR1)  # the first goes on; then the second
    assert first.wait(timeout=120) == 0, first.stderr.read()
    assert second.wait(timeout=120) == 0, second.stderr.read()
    assert assert_consistent(settings) == {"alpha", "beta", "gamma", "delta"}


def test_index_with_no_wait_fails_at_once_while_an_add_runs(collection):
    settings, incoming = collection
    first = _start(settings, "add", str(incoming / "gamma.txt"), pause="written")
    _wait_for(first, "paused at written")
    try:
        done = subprocess.run(_command(settings, "index", "--no-wait"), capture_output=True, text=True, timeout=120,
                              cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert done.returncode == 2 and "another `assistant add`" in done.stderr and "Traceback" not in done.stderr
        # A reader neither waits nor recovers a live change: the index in use is whole.
        assert "interrupted" not in _next_command(settings)
        assert set(load_index(settings.index_dir, settings).documents) == {"alpha", "beta"}
    finally:
        os.kill(first.pid, signal.SIGUSR1)
        assert first.wait(timeout=120) == 0
    assert "gamma" in assert_consistent(settings)


def test_a_damaged_journal_is_removed_with_a_notice(collection):
    settings, _ = collection
    (settings.index_dir / JOURNAL_FILE).write_bytes(os.urandom(40))
    notice = _next_command(settings)
    assert "removed a damaged journal" in notice and "Traceback" not in notice
    assert assert_consistent(settings) == {"alpha", "beta"}


def _leave_half_written_pointers(settings: Settings) -> list[Path]:
    """What a kill in the middle of switching `CURRENT` or writing the journal leaves: the durable
    write's temporary files (`.CURRENT.tmp-<hex>`, `.JOURNAL.tmp-<hex>`, half written), and the
    `CURRENT.tmp` that versions before issue 28 wrote first and renamed after (a kill between left it)."""
    index_dir = settings.index_dir
    leftovers = [index_dir / ".CURRENT.tmp-0123abcd", index_dir / ".JOURNAL.tmp-89abcdef", index_dir / "CURRENT.tmp"]
    leftovers[0].write_text("build-20990101T000000-dead")
    leftovers[1].write_text('{"operation": "add", "corpus_')
    leftovers[2].write_text("build-20990101T000000-beef\n")
    return leftovers


def test_half_written_pointers_left_by_a_kill_are_removed_by_the_next_command_and_harmless(collection, embedders):
    """Issue 28, item 7: a leftover CURRENT.tmp after some kills. The next command to open the
    collection (`assistant docs`, holding the lock) removes what a dead writer left; the index in
    use opens as it was, and the next change works and leaves nothing either."""
    settings, incoming = collection
    before = current_build(settings.index_dir)
    leftovers = _leave_half_written_pointers(settings)
    notice = _next_command(settings)
    assert "Traceback" not in notice and not [path.name for path in leftovers if path.exists()]
    assert current_build(settings.index_dir) == before
    assert assert_consistent(settings) == {"alpha", "beta"}
    leftovers = _leave_half_written_pointers(settings)  # and a change, under the lock, removes them too
    add_documents(settings, [incoming / "gamma.txt"], embedders=_cached(embedders, settings))
    assert not [path.name for path in leftovers if path.exists()]
    assert assert_consistent(settings) == {"alpha", "beta", "gamma"}
