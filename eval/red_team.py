"""Red-team rerun (issue 28): faults, concurrency and damaged files on a small collection, with real
`assistant` processes; the collection must never lose or mix up a document, never answer wrongly.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/red_team.py [--random 60] [--steps 4] [--double 12]
        [--concurrent 10] [--damaged 238] [--fs-calls N] [--seed 0] [--timeout 300] [--keep DIR]

Every trial starts from a copy of one small collection (two short documents with sidecars, like
tests/test_faults.py's `seeded`; four more to add), in a temporary folder removed at the end:

1. `--random`: `assistant add`, `remove` or `index` (after a file dropped into the corpus by hand)
   killed with SIGKILL after a delay drawn uniformly over the command's measured duration;
2. `--steps`: rounds of a kill at each step of transaction.STEPS (ASSISTANT_TEST_PAUSE_AT) for
   each of add, remove and index; a step a command never reaches lets it finish (counted apart);
3. `--double`: a kill at one step, then the command that recovers it (`docs`, or the next change)
   itself killed at a step;
4. `--concurrent`: rounds of 4 `assistant add` of different files and 1 `assistant remove`, all
   started at once: all must succeed (they queue on the lock), the result holding every change;
5. `--damaged`: asks over a damaged index: each file of the build in use, and CURRENT, damaged in
   one of 14 ways (truncated, flipped bytes, random bytes, deleted, a folder, a link loop, ...),
   then `assistant ask`: the known document first, or one `error:` line and exit 2;
6. `--fs-calls`: add, remove and index each killed just before its n-th call that changes the file
   system (every open for writing, fsync, rename, unlink, mkdir, rmdir: FS_HOOK runs the command
   and kills itself there), for every n (default) or for N of them spread evenly: the moments
   between the named steps, down to a single rename.

After each fault, `assistant docs` (the next command, which recovers) must exit 0, and the
collection is checked: the corpus and the index hold the documents the changes that took effect
give (a change is whole or absent; a notice that says "completed" or "rolled back" must be
right), each with its own text and details; corpus and index agree (when an interrupted `index`
left a hand-dropped file unindexed, `assistant index` is run first, as a user would), the
manifest's corpus_fingerprint is the corpus's, no JOURNAL, one build-* folder which CURRENT names,
no dot-file in corpus/, nothing else left in index/; and `assistant ask` of a question only one
document answers returns that document first.

Outcomes: losses (a document missing, extra or mixed up), desyncs (a check above failing), wrong
answers, tracebacks, bad exits (a command failing that should not, or an error that is not one
line with exit 2) and hangs (past --timeout). Progress, with the time left, on stderr; on stdout
one line of JSON, then a summary. Exit status 1 when anything failed. The processes get
HF_HUB_OFFLINE=1, `--lang en`, this checkout on PYTHONPATH, and one shared ONNX export
(ASSISTANT_ONNX_DIR when set, else one made in the temporary folder, about a minute); other
ASSISTANT_* settings are dropped.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for _name in [name for name in os.environ if name.startswith("ASSISTANT_") and name != "ASSISTANT_ONNX_DIR"]:
    del os.environ[_name]
os.environ["HF_HUB_OFFLINE"] = "1"

from assistant.ingest.corpus import corpus_files, corpus_fingerprint, document_id  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from assistant.store.index import load_index  # noqa: E402
from assistant.store.layout import CURRENT_FILE, current_build  # noqa: E402
from assistant.store.transaction import JOURNAL_FILE, LOCK_FILE, PAUSE_ENV, STEPS  # noqa: E402


@dataclass(frozen=True)
class Doc:
    title: str
    body: str
    question: str
    """A question only this document answers."""
    publisher: str
    date: str

    @property
    def text(self) -> str:
        return f"{self.title}\n\n{self.body}\n"


DOCS = {
    "alpha": Doc("Alpha report", "Sex work was decriminalised in 2001. Police raids on saunas continue in Almaty.",
                 "When were police raids on saunas reported in Almaty?", "Alpha", "2020"),
    "beta": Doc("Beta note", "There are 33 friendly cabinets across the country offering free HIV tests.",
                "How many friendly cabinets offer free HIV tests?", "Beta", "2021"),
    "gamma": Doc("Gamma clinic", "The gamma clinic in Shymkent tests migrants without propiska on Mondays.",
                 "Which clinic in Shymkent tests migrants without propiska?", "Gamma", "2022"),
    "delta": Doc("Delta shelter", "The delta shelter in Karaganda takes survivors of trafficking for ninety days.",
                 "How long does the Karaganda shelter keep survivors?", "Delta", "2019"),
    "epsilon": Doc("Epsilon line", "The epsilon helpline answers legal questions about the trafficking law on Thursdays.",
                   "On which day does the helpline answer legal questions?", "Epsilon", "2023"),
    "zeta": Doc("Zeta outreach", "The zeta outreach van hands out clean needles and condoms in Pavlodar every evening.",
                "Where does the outreach van hand out clean needles?", "Zeta", "2018"),
}
SEED = ("alpha", "beta")
INCOMING = ("gamma", "delta", "epsilon", "zeta")
COMMANDS = ("add", "remove", "index")
APPLIED_AT = {"locked": False, "staged": False, "embedded": False, "written": False, "switched": True,
              "completing": True}
"""Whether a change killed at a step takes effect: up to "written" it is rolled back (at "locked",
before its journal, nothing had changed), from "switched" on it is completed."""
DOUBLE = [  # (first command, its step, second command, its step); the second recovers the first
    ("add", "switched", "docs", "completing"), ("add", "completing", "docs", "completing"),
    ("remove", "switched", "docs", "completing"), ("remove", "completing", "docs", "completing"),
    ("add", "written", "add", "locked"), ("add", "embedded", "remove", "switched"),
    ("index", "switched", "add", "completing"), ("remove", "written", "index", "embedded"),
    ("add", "switched", "add", "written"), ("remove", "completing", "add", "switched"),
    ("add", "completing", "index", "switched"), ("add", "switched", "index", "written"),
]
DAMAGES = ("emptied", "halved", "short by one byte", "16 bytes appended", "first byte flipped",
           "middle byte flipped", "last byte flipped", "middle zeroed", "random bytes, same size",
           "1 KiB of random bytes", "deleted", "a folder", "another file's bytes", "a link to itself")
KILL_AT_ENV = "RED_TEAM_KILL_AT"
FS_HOOK = '''"""`assistant` (argv) with every call that changes the file system counted (os.replace, rename,
unlink, mkdir, rmdir, fsync, ftruncate, and opening a file for writing), and a SIGKILL of itself
before call number $RED_TEAM_KILL_AT; the count said on stderr at exit (each call too, with
RED_TEAM_LIST_CALLS=1)."""
import atexit, builtins, io, os, signal, sys

KILL_AT = int(os.environ.get("RED_TEAM_KILL_AT") or 0)
LIST = bool(os.environ.get("RED_TEAM_LIST_CALLS"))
count = 0


def shown(name, args):
    """The call, with the names of the files it touches."""
    if name in ("fsync", "ftruncate"):
        try:
            names = [os.readlink(f"/proc/self/fd/{args[0]}")]
        except OSError:
            names = []
    else:
        names = [str(a) for a in args[: 1 if name == "open" else 2] if isinstance(a, (str, os.PathLike))]
    return f"{name}({', '.join(os.path.basename(n) for n in names)})"


def counted(name, function, writes=None):
    def call(*args, **kwargs):
        global count
        if writes is None or writes(*args, **kwargs):
            count += 1
            if LIST:
                sys.stderr.write(f"file-system call {count}: {shown(name, args)}\\n")
            if count == KILL_AT:
                sys.stderr.write(f"killed before file-system call {count}: {shown(name, args)}\\n")
                sys.stderr.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)
    return call


WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
SUPPORTS = (os.supports_dir_fd, os.supports_fd, os.supports_follow_symlinks, os.supports_effective_ids)


def patch(name, writes=None):
    """os.NAME counted; kept in the os.supports_* sets the original is in (shutil.rmtree looks)."""
    original = getattr(os, name)
    setattr(os, name, counted(name, original, writes))
    for supported in SUPPORTS:
        if original in supported:
            supported.add(getattr(os, name))


for name in ("replace", "rename", "unlink", "remove", "mkdir", "rmdir", "fsync", "ftruncate"):
    patch(name)
patch("open", lambda path, flags, *a, **k: bool(flags & WRITE_FLAGS))
builtins.open = io.open = counted(  # not os.fdopen's (a file already opened, counted then)
    "open", io.open, lambda file, mode="r", *a, **k: not isinstance(file, int) and any(c in mode for c in "wax+"))
atexit.register(lambda: sys.stderr.write(f"file-system calls: {count}\\n"))

from assistant.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
'''
"""The `--fs-calls` trials' runner (written into the temporary folder)."""
CATEGORIES = ("losses", "desyncs", "wrong_answers", "tracebacks", "bad_exits", "hangs")


class Hang(Exception):
    pass


@dataclass
class Run:
    returncode: int | None
    stderr: str
    stdout: str = ""
    seconds: float = 0.0


@dataclass
class Trial:
    """One trial's record: what was done, and what went wrong (category, detail)."""

    kind: str
    what: str
    problems: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""
    seconds: float = 0.0

    def fail(self, category: str, detail: str) -> None:
        self.problems.append((category, detail))


class Collection:
    """A corpus and index folder, and the commands on it."""

    def __init__(self, root: Path, work: Path, timeout: float):
        self.root, self.work, self.timeout = root, work, timeout
        self.corpus, self.index = root / "corpus", root / "index"
        self.settings = Settings(corpus_dir=self.corpus, index_dir=self.index)

    def argv(self, *args: str, hook: Path | None = None) -> list[str]:
        """The command line of `assistant ARGS` on this collection (run by `hook` when given)."""
        runner = [str(hook)] if hook else ["-m", "assistant.cli"]
        return [sys.executable, *runner, "--lang", "en", *args, "--corpus", str(self.corpus), "--index", str(self.index)]

    def env(self, pause: str | None = None, kill_at: int | None = None) -> dict[str, str]:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        env.pop(PAUSE_ENV, None)
        if pause:
            env[PAUSE_ENV] = pause
        if kill_at is not None:
            env[KILL_AT_ENV] = str(kill_at)
        return env

    def run(self, *args: str) -> Run:
        started = time.monotonic()
        try:
            done = subprocess.run(self.argv(*args), env=self.env(), cwd=self.root, capture_output=True, text=True,
                                  timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise Hang(f"`assistant {' '.join(args[:1])}` ran past {self.timeout:.0f} s") from None
        return Run(done.returncode, done.stderr, done.stdout, time.monotonic() - started)

    def start(self, *args: str, pause: str | None = None, hook: Path | None = None,
              kill_at: int | None = None) -> Started:
        return Started(self, list(args), pause, hook, kill_at)

    def ids(self) -> set[str]:
        return {document_id(path) for path in corpus_files(self.corpus)}


class Started:
    """A command running in the background, its stderr in a file (never a pipe that could fill)."""

    count = itertools.count()

    def __init__(self, collection: Collection, args: list[str], pause: str | None, hook: Path | None = None,
                 kill_at: int | None = None):
        self.args = args
        self.log = collection.work / f"stderr-{next(self.count)}.txt"
        self.timeout = collection.timeout
        self.started = time.monotonic()
        with open(self.log, "w") as handle:
            self.process = subprocess.Popen(collection.argv(*args, hook=hook), env=collection.env(pause, kill_at),
                                            cwd=collection.root, stdout=subprocess.DEVNULL, stderr=handle)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_pause(self, step: str) -> bool:
        """True when the process stopped at `step`; False when it finished without reaching it."""
        while time.monotonic() - self.started < self.timeout:
            if f"paused at {step}" in self.stderr():
                return True
            if self.process.poll() is not None:
                return f"paused at {step}" in self.stderr()
            time.sleep(0.05)
        self.kill()
        raise Hang(f"`assistant {self.args[0]}` neither paused at {step} nor ended within {self.timeout:.0f} s")

    def kill(self) -> bool:
        """SIGKILL; True when the process was still running."""
        if self.process.poll() is not None:
            return False
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        return True

    def wait(self) -> Run:
        try:
            self.process.wait(timeout=max(1.0, self.timeout - (time.monotonic() - self.started)))
        except subprocess.TimeoutExpired:
            self.kill()
            raise Hang(f"`assistant {self.args[0]}` ran past {self.timeout:.0f} s") from None
        return Run(self.process.returncode, self.stderr(), seconds=time.monotonic() - self.started)

    def close(self) -> None:
        self.kill()
        self.log.unlink(missing_ok=True)


@dataclass(frozen=True)
class Op:
    """A change: `add` of a document, `remove` of one, `index` after one dropped into the corpus by
    hand; or `docs` (no change: the command that recovers)."""

    command: str
    doc: str = ""
    """The document it adds, removes or drops in ("" for `docs`)."""

    def args(self, incoming: Path) -> list[str]:
        if self.command == "add":
            doc = DOCS[self.doc]
            return ["add", str(incoming / f"{self.doc}.txt"), "--publisher", doc.publisher, "--date", doc.date]
        if self.command == "remove":
            return ["remove", self.doc, "--yes"]
        return [self.command]

    def prepare(self, collection: Collection, incoming: Path) -> None:
        if self.command == "index":
            shutil.copyfile(incoming / f"{self.doc}.txt", collection.corpus / f"{self.doc}.txt")

    def describe(self) -> str:
        if self.command == "index":
            return f"index (with {self.doc} dropped in)"
        return f"{self.command} {self.doc}" if self.doc else self.command


State = tuple[frozenset[str], frozenset[str]]
"""(the corpus's document ids, the index's)."""


def after(state: State, op: Op, applied: bool) -> State:
    """The collection after `op`, which took effect or not; a change that takes effect indexes the
    whole corpus (a file dropped in by hand too)."""
    corpus, index = state
    if op.command == "index":
        corpus = corpus | {op.doc}
    if not applied or op.command == "docs":
        return corpus, index
    if op.command == "add":
        corpus = corpus | {op.doc}
    elif op.command == "remove":
        corpus = corpus - {op.doc}
    return corpus, corpus


def notice_of(stderr: str) -> str | None:
    """What a recovery said: "completed", "rolled back", or None."""
    for line in stderr.splitlines():
        if "an interrupted `assistant" in line:
            return "completed" if "completed an interrupted" in line else "rolled back"
    return None


def ran_cleanly(trial: Trial, run: Run, what: str) -> bool:
    """A command that must succeed did: exit 0, no traceback."""
    if "Traceback" in run.stderr:
        trial.fail("tracebacks", f"{what}: {run.stderr.strip()[-600:]}")
        return False
    if run.returncode != 0:
        trial.fail("bad_exits", f"{what} exited {run.returncode}: {run.stderr.strip()[-400:]}")
        return False
    return True


def killed_cleanly(trial: Trial, started: Started) -> None:
    if "Traceback" in started.stderr():
        trial.fail("tracebacks", f"`{started.args[0]}` before its kill: {started.stderr().strip()[-600:]}")


# --- the checks -------------------------------------------------------------------------------------


def check(trial: Trial, collection: Collection, possible: list[State]) -> frozenset[str] | None:
    """The collection is one of `possible` (else a loss) and whole (else a desync); its document
    ids, or None when it could not be read."""
    corpus_dir, index_dir = collection.corpus, collection.index
    try:
        corpus_ids = frozenset(collection.ids())
        index_ids = frozenset(load_index(index_dir, collection.settings).documents)
    except Exception as error:  # the check reports what it finds, whatever it is
        trial.fail("desyncs", f"the collection does not load: {type(error).__name__}: {error}")
        return None
    if (corpus_ids, index_ids) not in possible:
        shown = " or ".join(f"corpus {sorted(c)}, index {sorted(i)}" for c, i in possible)
        trial.fail("losses", f"corpus {sorted(corpus_ids)}, index {sorted(index_ids)}; expected {shown}")
    dropped = {p.stem for p in corpus_dir.glob("*.txt") if not (corpus_dir / f"{p.stem}.toml").exists()}
    if corpus_ids != index_ids and corpus_ids - index_ids <= dropped and index_ids <= corpus_ids:
        # an interrupted `index` left a file dropped in by hand unindexed: what a user does next
        run = collection.run("index")
        if not ran_cleanly(trial, run, "`assistant index` after the recovery"):
            return None
        index_ids = frozenset(load_index(index_dir, collection.settings).documents)
    index = load_index(index_dir, collection.settings)
    if index_ids != corpus_ids:
        trial.fail("desyncs", f"the corpus holds {sorted(corpus_ids)}, the index {sorted(index_ids)}")
    if index.manifest.get("corpus_fingerprint") != corpus_fingerprint(corpus_dir):
        trial.fail("desyncs", "the manifest's corpus_fingerprint is not the corpus's")
    if (index_dir / JOURNAL_FILE).exists():
        trial.fail("desyncs", "a JOURNAL was left")
    builds = sorted(p.name for p in index_dir.glob("build-*"))
    if builds != [current_build(index_dir).name]:
        trial.fail("desyncs", f"build folders {builds}, CURRENT names {current_build(index_dir).name}")
    extra = sorted(p.name for p in index_dir.iterdir()
                   if p.name not in {CURRENT_FILE, LOCK_FILE, "embedding-cache", *builds})
    if extra:
        trial.fail("desyncs", f"left in the index folder: {extra}")
    hidden = sorted(p.name for p in corpus_dir.iterdir() if p.name.startswith("."))
    if hidden:
        trial.fail("desyncs", f"left in the corpus folder: {hidden}")
    for path in sorted(p for p in corpus_dir.iterdir() if not p.name.startswith(".")):
        doc = DOCS.get(path.stem)
        if doc is None or path.suffix not in (".txt", ".toml") or path.stem not in corpus_ids:
            trial.fail("losses", f"corpus file {path.name} belongs to no document of the collection")
        elif path.suffix == ".txt" and path.read_text(encoding="utf-8", errors="replace") != doc.text:
            trial.fail("losses", f"corpus file {path.name} does not hold {path.stem}'s text")
    for doc_id, document in index.documents.items():
        doc, sidecar = DOCS.get(doc_id), corpus_dir / f"{doc_id}.toml"
        if doc is None:
            continue
        publisher = doc.publisher if sidecar.exists() else None
        meta = document.metadata
        if doc.body not in document.text or meta.title != doc.title or meta.publisher != publisher:
            trial.fail("losses", f"the index's {doc_id} has text {document.text[:60]!r}, title {meta.title!r}, "
                                 f"publisher {meta.publisher!r}: not its own")
    return corpus_ids


def ask(trial: Trial, collection: Collection, doc_id: str) -> None:
    """`assistant ask` of the question only `doc_id` answers returns it first."""
    run = collection.run("ask", "--json", DOCS[doc_id].question)
    if not ran_cleanly(trial, run, f"`assistant ask` about {doc_id}"):
        return
    results = json.loads(run.stdout)["results"]
    top = results[0]["citation"]["doc_id"] if results else None
    if top != doc_id:
        trial.fail("wrong_answers", f"asked about {doc_id}, the first passage is {top}'s")


def recover_and_check(trial: Trial, collection: Collection, possible: list[State], subject: str | None,
                      rng: random.Random, by_notice: dict[str, State] | None = None) -> None:
    """`assistant docs` (which recovers), the checks, and an ask. `by_notice`: the one state each
    notice ("completed", "rolled back") allows, for a change that may have taken effect or not."""
    run = collection.run("docs")
    if not ran_cleanly(trial, run, "`assistant docs` (the recovery)"):
        return
    notice = notice_of(run.stderr)
    trial.note = notice or "no notice"
    if notice and by_notice:
        possible = [by_notice[notice]]
    ids = check(trial, collection, possible)
    if ids:
        ask(trial, collection, subject if subject in ids else rng.choice(sorted(ids)))
    again = collection.run("docs")
    if ran_cleanly(trial, again, "a second `assistant docs`") and notice_of(again.stderr):
        trial.fail("desyncs", "the second `assistant docs` recovered something again")


# --- the trials -------------------------------------------------------------------------------------


class RedTeam:
    def __init__(self, work: Path, args: argparse.Namespace):
        self.work, self.args = work, args
        self.rng = random.Random(args.seed)
        self.incoming = work / "incoming"
        self.hook = work / "fs_hook.py"
        self.calls: dict[str, int] = {}
        """File-system calls each command makes (the --fs-calls trials)."""
        self.seed = work / "seed"
        self.trials: list[Trial] = []
        self.planned = 0
        self.observed: dict[str, list[float]] = {}
        """Seconds each command took when it ran to its end."""
        self.number = itertools.count()
        self.keep_failures = args.keep is not None

    def collection(self, root: Path) -> Collection:
        return Collection(root, self.work, self.args.timeout)

    def fresh(self) -> Collection:
        root = self.work / f"trial-{next(self.number)}"
        shutil.copytree(self.seed, root, symlinks=True)
        return self.collection(root)

    def finish(self, trial: Trial, collection: Collection) -> None:
        if trial.problems and self.keep_failures:
            return  # left in --keep's folder to look at
        shutil.rmtree(collection.root, ignore_errors=True)

    # set-up

    def set_up(self) -> None:
        self.incoming.mkdir()
        self.hook.write_text(FS_HOOK, encoding="utf-8")
        for name in INCOMING:
            (self.incoming / f"{name}.txt").write_text(DOCS[name].text, encoding="utf-8")
        seed = self.collection(self.seed)
        seed.corpus.mkdir(parents=True)
        for name in SEED:
            doc = DOCS[name]
            (seed.corpus / f"{name}.txt").write_text(doc.text, encoding="utf-8")
            (seed.corpus / f"{name}.toml").write_text(
                f'title = "{doc.title}"\npublisher = "{doc.publisher}"\ndate = "{doc.date}"\n', encoding="utf-8")
        say("indexing the seed collection (the first time, with the ONNX export: a minute or two)")
        trial = Trial("set-up", "seed")
        if not ran_cleanly(trial, seed.run("index"), "`assistant index` of the seed"):
            sys.exit(f"set-up failed: {trial.problems}")
        # Each command timed twice (the random kills' range, and the estimate of the time left;
        # the random trials add the run times of the commands that end before their kill), and
        # every question checked on a collection holding every document.
        probe = self.fresh()
        rounds = [Op("add", "gamma"), Op("remove", "gamma"), Op("index", "delta"), Op("remove", "delta")] * 2
        for op in rounds:
            op.prepare(probe, self.incoming)
            run = probe.run(*op.args(self.incoming))
            if not ran_cleanly(trial, run, f"timing `assistant {op.describe()}`"):
                sys.exit(f"set-up failed: {trial.problems}")
            self.observed.setdefault(op.command, []).append(run.seconds)
        run = probe.run("add", *(str(self.incoming / f"{name}.txt") for name in INCOMING))
        docs = probe.run("docs")
        self.observed["docs"] = [docs.seconds]
        if not (ran_cleanly(trial, run, "adding the rest") and ran_cleanly(trial, docs, "docs")):
            sys.exit(f"set-up failed: {trial.problems}")
        asks = []
        for name in DOCS:
            started = time.monotonic()
            ask(trial, probe, name)
            asks.append(time.monotonic() - started)
        if trial.problems:
            sys.exit(f"set-up failed: a question does not find its document on the whole collection: {trial.problems}")
        self.observed["ask"] = asks
        shutil.rmtree(probe.root)
        if self.args.fs_calls != 0:
            self.calls = {command: self.count_calls(command) for command in COMMANDS}
            say("file-system calls: " + ", ".join(f"{k} {v}" for k, v in self.calls.items()))
        say("median run: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.durations.items()))

    @property
    def durations(self) -> dict[str, float]:
        """The median run time of each command."""
        return {command: statistics.median(seconds) for command, seconds in self.observed.items()}

    def estimate(self, kind: str) -> float:
        """Seconds one trial of `kind` should take (for the time left)."""
        d = self.durations
        change = (d["add"] + d["remove"] + d["index"]) / 3
        after = 2 * d["docs"] + d["ask"]
        return {"random": change / 2 + after, "steps": change + after, "double": 1.5 * change + d["docs"] + after,
                "concurrent": 3 * d["add"] + after, "damaged": d["ask"], "calls": change + after}[kind]

    # 1. random kills

    def random_kill(self, trial_number: int) -> Trial:
        collection = self.fresh()
        before = frozenset(collection.ids())
        command = COMMANDS[trial_number % 3]
        if command == "remove":
            op = Op("remove", self.rng.choice(sorted(before)))
        else:
            op = Op(command, self.rng.choice([d for d in INCOMING if d not in before]))
        delay = self.rng.uniform(0, self.durations[command])
        trial = Trial("random", f"{op.describe()} killed after {delay:.2f} s")
        op.prepare(collection, self.incoming)
        started = collection.start(*op.args(self.incoming))
        try:
            time.sleep(max(0.0, delay - (time.monotonic() - started.started)))
            killed = started.kill()
            run = started.wait()
            if not killed and run.returncode == 0:
                self.observed[command].append(run.seconds)
            self.check_either(trial, collection, op, before, started, killed)
        finally:
            started.close()
            self.finish(trial, collection)
        return trial

    def check_either(self, trial: Trial, collection: Collection, op: Op, before: frozenset[str], started: Started,
                     killed: bool) -> None:
        """The checks after `op` was killed at a moment that does not say whether it took effect
        (then the recovery's notice must: "completed" or "rolled back"), or ended on its own."""
        if killed:
            killed_cleanly(trial, started)
        elif not ran_cleanly(trial, started.wait(), f"`assistant {op.command}` (it ended before the kill)"):
            return
        else:
            trial.what += " (it had ended)"
        state = (before, before)
        done, undone = after(state, op, True), after(state, op, False)
        recover_and_check(trial, collection, [done, undone] if killed else [done], op.doc, self.rng,
                          {"completed": done, "rolled back": undone})

    # 2. kills at each step

    def step_kill(self, command: str, step: str) -> Trial:
        collection = self.fresh()
        before = frozenset(collection.ids())
        doc = "beta" if command == "remove" else self.rng.choice(INCOMING)
        op = Op(command, doc)
        trial = Trial("steps", f"{op.describe()} killed at {step}")
        op.prepare(collection, self.incoming)
        started = collection.start(*op.args(self.incoming), pause=step)
        try:
            reached = started.wait_for_pause(step)
            if reached:
                started.kill()
                killed_cleanly(trial, started)
                applied = APPLIED_AT[step]
            else:
                trial.what = f"{op.describe()}: never reaches {step}"
                if not ran_cleanly(trial, started.wait(), f"`assistant {command}` with a pause it never reached"):
                    return trial
                applied = True
            recover_and_check(trial, collection, [after((before, before), op, applied)], op.doc, self.rng)
            expected = None if not reached or step == "locked" else ("completed" if applied else "rolled back")
            if trial.note != (expected or "no notice"):
                trial.fail("desyncs", f"the recovery said {trial.note!r}, expected {expected or 'no notice'!r}")
            trial.note = trial.note if reached else "not reached"
        finally:
            started.close()
            self.finish(trial, collection)
        return trial

    # 3. double faults

    def double_fault(self, scenario: tuple[str, str, str, str]) -> Trial:
        first_command, first_step, second_command, second_step = scenario
        collection = self.fresh()
        state = (frozenset(collection.ids()),) * 2
        free = [d for d in INCOMING]
        self.rng.shuffle(free)
        removable = ["beta", "alpha"]
        ops = []
        for command in (first_command, second_command):
            if command == "remove":
                ops.append(Op("remove", removable.pop(0)))
            elif command in ("add", "index"):
                ops.append(Op(command, free.pop()))
            else:
                ops.append(Op(command))
        trial = Trial("double", f"{ops[0].describe()} killed at {first_step}, then {ops[1].describe()} killed at "
                                f"{second_step}")
        starts = []
        try:
            for op, step in zip(ops, (first_step, second_step), strict=True):
                op.prepare(collection, self.incoming)
                started = collection.start(*op.args(self.incoming), pause=step)
                starts.append(started)
                if started.wait_for_pause(step):
                    started.kill()
                    killed_cleanly(trial, started)
                    applied = APPLIED_AT[step]
                else:
                    trial.what += f" ({op.describe()} never reaches {step})"
                    if not ran_cleanly(trial, started.wait(), f"`assistant {op.command}`"):
                        return trial
                    applied = True
                state = after(state, op, applied)
            recover_and_check(trial, collection, [state], ops[-1].doc or ops[0].doc, self.rng)
        finally:
            for started in starts:
                started.close()
            self.finish(trial, collection)
        return trial

    # 4. concurrent changes

    def concurrent(self) -> Trial:
        collection = self.fresh()
        before = frozenset(collection.ids())
        gone = self.rng.choice(sorted(before))
        ops = [Op("add", name) for name in INCOMING] + [Op("remove", gone)]
        self.rng.shuffle(ops)
        trial = Trial("concurrent", "4 adds and a remove at once: " + ", ".join(op.describe() for op in ops))
        starts = [collection.start(*op.args(self.incoming)) for op in ops]
        try:
            for op, started in zip(ops, starts, strict=True):
                ran_cleanly(trial, started.wait(), f"`assistant {op.describe()}`")
            waited = sum("waiting for it to finish" in started.stderr() for started in starts)
            trial.note = f"{waited} waited for the lock"
            expected = (before - {gone}) | set(INCOMING)
            ids = check(trial, collection, [(frozenset(expected), frozenset(expected))])
            if ids:
                ask(trial, collection, self.rng.choice(sorted(ids)))
        finally:
            for started in starts:
                started.close()
            self.finish(trial, collection)
        return trial

    # 5. damaged index files

    def damage_targets(self) -> list[str]:
        """CURRENT and every file of the build in use (relative to the index folder)."""
        index = self.seed / "index"
        files = sorted(str(p.relative_to(index)) for p in current_build(index).rglob("*") if p.is_file())
        return [CURRENT_FILE, *files]

    def damaged(self, target: str, how: str, others: list[str]) -> Trial:
        collection = self.fresh()
        trial = Trial("damaged", f"{target} {how}")
        try:
            damage(collection.index / target, how, self.rng,
                   collection.index / others[(others.index(target) + 1) % len(others)])
            subject = self.rng.choice(SEED)
            run = collection.run("ask", "--json", DOCS[subject].question)
            if "Traceback" in run.stderr:
                trial.fail("tracebacks", run.stderr.strip()[-600:])
            elif run.returncode == 0:
                results = json.loads(run.stdout)["results"]
                top = results[0]["citation"]["doc_id"] if results else None
                trial.note = "answered"
                if top != subject:
                    trial.fail("wrong_answers", f"asked about {subject}, the first passage is {top}'s")
            elif run.returncode == 2:
                errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
                trial.note = "error: " + (errors[0][7:] if errors else "")
                if len(errors) != 1 or not run.stderr.rstrip().endswith(errors[0]):
                    trial.fail("bad_exits", f"exit 2 without one error line at the end: {run.stderr.strip()[-400:]}")
            else:
                trial.fail("bad_exits", f"exit {run.returncode}: {run.stderr.strip()[-400:]}")
        finally:
            self.finish(trial, collection)
        return trial

    # 6. kills before each file-system call

    def count_calls(self, command: str) -> int:
        """How many file-system calls `command` makes (FS_HOOK's count, on a fresh copy)."""
        collection = self.fresh()
        op = self.call_op(command)
        op.prepare(collection, self.incoming)
        started = collection.start(*op.args(self.incoming), hook=self.hook, kill_at=0)
        try:
            run = started.wait()
            trial = Trial("set-up", f"counting the file-system calls of {op.describe()}")
            if not ran_cleanly(trial, run, trial.what):
                sys.exit(f"set-up failed: {trial.problems}")
            return int(run.stderr.rsplit("file-system calls: ", 1)[1].split()[0])
        finally:
            started.close()
            shutil.rmtree(collection.root, ignore_errors=True)

    def call_op(self, command: str) -> Op:
        return Op(command, "beta" if command == "remove" else INCOMING[0])

    def call_kill(self, command: str, position: int) -> Trial:
        collection = self.fresh()
        before = frozenset(collection.ids())
        op = self.call_op(command)
        trial = Trial("calls", f"{op.describe()} killed before file-system call {position}")
        op.prepare(collection, self.incoming)
        started = collection.start(*op.args(self.incoming), hook=self.hook, kill_at=position)
        try:
            run = started.wait()
            killed = run.returncode == -signal.SIGKILL
            if killed:
                trial.what = run.stderr.rsplit("killed before ", 1)[-1].strip().replace("file-system call", "call")
                trial.what = f"{op.describe()} killed before {trial.what}"
            self.check_either(trial, collection, op, before, started, killed)
        finally:
            started.close()
            self.finish(trial, collection)
        return trial


def damage(path: Path, how: str, rng: random.Random, other: Path) -> None:
    """Damage one file of an index in the way `how` names (one of DAMAGES)."""
    data = path.read_bytes()
    size, middle = len(data), len(data) // 2

    def flipped(at: int) -> bytes:
        return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:] if data else b"\xff"

    if how == "deleted":
        path.unlink()
    elif how == "a folder":
        path.unlink()
        path.mkdir()
    elif how == "a link to itself":
        path.unlink()
        path.symlink_to(path.name)
    else:
        path.write_bytes({
            "emptied": lambda: b"",
            "halved": lambda: data[:middle],
            "short by one byte": lambda: data[:-1],
            "16 bytes appended": lambda: data + rng.randbytes(16),
            "first byte flipped": lambda: flipped(0),
            "middle byte flipped": lambda: flipped(middle),
            "last byte flipped": lambda: flipped(size - 1),
            "middle zeroed": lambda: data[:middle // 2] + bytes(middle) + data[middle // 2 + middle:],
            "random bytes, same size": lambda: rng.randbytes(size),
            "1 KiB of random bytes": lambda: rng.randbytes(1024),
            "another file's bytes": lambda: other.read_bytes(),
        }[how]())


# --- running and reporting --------------------------------------------------------------------------


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def spread(count: int | None, total: int) -> list[int]:
    """`count` positions spread evenly over 1..total (all of them when None)."""
    if count is None or count >= total:
        return list(range(1, total + 1))
    if count <= 1:
        return [total // 2 + 1] if count == 1 else []
    return sorted({1 + round(i * (total - 1) / (count - 1)) for i in range(count)})


def plan(args: argparse.Namespace, calls: dict[str, int], damages: int) -> list[tuple[str, Any]]:
    """Every trial to run, as (kind, its parameter), in order."""
    trials: list[tuple[str, Any]] = [("random", n) for n in range(args.random)]
    pairs = [(command, step) for _ in range(args.steps) for command in COMMANDS for step in STEPS]
    trials += [("steps", pair) for pair in pairs]
    trials += [("double", DOUBLE[n % len(DOUBLE)]) for n in range(args.double)]
    trials += [("concurrent", None) for _ in range(args.concurrent)]
    trials += [("damaged", n) for n in range(damages if args.damaged is None else args.damaged)]
    trials += [("calls", (command, position)) for command, total in calls.items()
               for position in spread(args.fs_calls, total)]
    return trials


def main() -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--random", type=int, default=60, help="random-time kill trials (default 60)")
    parser.add_argument("--steps", type=int, default=4,
                        help="rounds of a kill at each step for add, remove and index (default 4: 60 kills)")
    parser.add_argument("--double", type=int, default=12, help=f"double faults (default 12; {len(DOUBLE)} kinds)")
    parser.add_argument("--concurrent", type=int, default=10, help="rounds of 4 adds + 1 remove at once (default 10)")
    parser.add_argument("--damaged", type=int, default=None,
                        help=f"asks over a damaged index file (default: every file of the build and CURRENT, each "
                             f"in all {len(DAMAGES)} ways, 238 today; fewer: a random sample of those)")
    parser.add_argument("--fs-calls", type=int, default=None,
                        help="kills before a file-system call, per command, spread over its calls (default: "
                             "before every one of them; 0: none)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds a command may take (default 300)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (and the failed trials' collections)")
    args = parser.parse_args()

    onnx_made = "ASSISTANT_ONNX_DIR" not in os.environ
    work = args.keep or Path(tempfile.mkdtemp(prefix="red-team-"))
    work.mkdir(parents=True, exist_ok=True)
    if onnx_made:
        os.environ["ASSISTANT_ONNX_DIR"] = str(work / "onnx")
    started = time.monotonic()
    team = RedTeam(work, args)
    try:
        team.set_up()
        set_up_seconds = time.monotonic() - started
        targets = team.damage_targets()
        pairs = [(target, how) for target in targets for how in DAMAGES]
        team.rng.shuffle(pairs)
        trials = plan(args, team.calls, len(pairs))
        team.planned = len(trials)
        total = sum(team.estimate(kind) for kind, _ in trials)
        estimated_done, trials_started = 0.0, time.monotonic()
        for position, (kind, parameter) in enumerate(trials, start=1):
            one_started = time.monotonic()
            try:
                if kind == "random":
                    trial = team.random_kill(parameter)
                elif kind == "steps":
                    trial = team.step_kill(*parameter)
                elif kind == "double":
                    trial = team.double_fault(parameter)
                elif kind == "concurrent":
                    trial = team.concurrent()
                elif kind == "calls":
                    trial = team.call_kill(*parameter)
                else:
                    target, how = pairs[parameter % len(pairs)]
                    trial = team.damaged(target, how, targets)
            except Hang as hang:
                trial = Trial(kind, str(parameter), [("hangs", str(hang))])
            except KeyboardInterrupt:  # the trials so far are reported
                say("interrupted: the report covers the trials that finished")
                break
            trial.seconds = time.monotonic() - one_started
            team.trials.append(trial)
            estimated_done += team.estimate(kind)
            spent = time.monotonic() - trials_started
            left = (total - estimated_done) * spent / estimated_done
            verdict = "ok" if not trial.problems else "FAILED: " + "; ".join(f"{c}: {d}" for c, d in trial.problems)
            say(f"[{position}/{len(trials)} {kind}] {trial.what}: {trial.note}; {verdict} ({trial.seconds:.1f} s; "
                f"elapsed {clock(time.monotonic() - started)}, about {clock(left)} left)")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    report(team, args, time.monotonic() - started, set_up_seconds, onnx_made)
    return 1 if any(trial.problems for trial in team.trials) else 0


def report(team: RedTeam, args: argparse.Namespace, seconds: float, set_up_seconds: float, onnx_made: bool) -> None:
    kinds: dict[str, dict] = {}
    for trial in team.trials:
        row = kinds.setdefault(trial.kind, {"trials": 0, **{c: 0 for c in CATEGORIES}, "seconds": 0.0, "notes": {}})
        row["trials"] += 1
        row["seconds"] += trial.seconds
        note = trial.note.split(":")[0] if trial.kind == "damaged" else trial.note
        row["notes"][note] = row["notes"].get(note, 0) + 1
        for category in {category for category, _ in trial.problems}:
            row[category] += 1
    for row in kinds.values():
        row["seconds_per_trial"] = round(row["seconds"] / row["trials"], 1)
        row["seconds"] = round(row["seconds"], 1)
    totals = {c: sum(row[c] for row in kinds.values()) for c in ("trials", *CATEGORIES)}
    failures = [{"kind": t.kind, "what": t.what, "problems": t.problems} for t in team.trials if t.problems]
    result = {"seed": args.seed, "planned_trials": team.planned, "cores": os.cpu_count(), "load_average": [round(x, 1) for x in os.getloadavg()],
              "wall_seconds": round(seconds), "set_up_seconds": round(set_up_seconds),
              "command_seconds": {k: round(v, 1) for k, v in team.durations.items()},
              "file_system_calls": team.calls,
              "totals": totals, "kinds": kinds, "failures": failures[:50]}
    print(json.dumps(result, ensure_ascii=False))
    print()
    done = f"{totals['trials']}" + (f" of {team.planned} (interrupted)" if totals["trials"] < team.planned else "")
    print(f"Red team, seed {args.seed}: {done} trials in {clock(seconds)} "
          f"(set-up {clock(set_up_seconds)}{', ONNX export included' if onnx_made else ''}); "
          "median run: " + ", ".join(f"{k} {v:.1f} s" for k, v in team.durations.items()))
    print(f"{'kind':<11} {'trials':>6} " + " ".join(f"{c.replace('_', ' '):>13}" for c in CATEGORIES)
          + f" {'s/trial':>8}  outcomes")
    for kind, row in kinds.items():
        notes = ", ".join(f"{n} {k}" for k, n in sorted(row["notes"].items(), key=lambda item: -item[1]))
        print(f"{kind:<11} {row['trials']:>6} " + " ".join(f"{row[c]:>13}" for c in CATEGORIES)
              + f" {row['seconds_per_trial']:>8}  {notes}")
    print("no loss, no desync, no wrong answer, no traceback, no bad exit, no hang" if not failures
          else f"{len(failures)} trials FAILED:")
    for failure in failures:
        print(f"  [{failure['kind']}] {failure['what']}: " + "; ".join(f"{c}: {d}" for c, d in failure["problems"]))


if __name__ == "__main__":
    sys.exit(main())
