"""A full disk during a change (issue 28, finding 5): `assistant add`, `remove` and `index` on a
collection that lives on a real, small file system (a tmpfs mounted in a private mount namespace:
`unshare --mount`, which needs root or user namespaces) filled to within a few bytes of its end.
Whatever step the disk fills at, the command says so in one line on stderr and exits 2 (or, with
room enough, succeeds), and the collection is as it was (or whole with the change): never a
traceback, never half a change. Then, with room again, the same command works."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from collection_checks import assert_consistent

from assistant.embedding import CachedEmbedder
from assistant.settings import Settings
from assistant.store.build import build_index

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.models

ALPHA = "Alpha report\n\nSex work was decriminalised in 2001. Police raids on saunas continue in Almaty.\n"
BETA = "Beta note\n\nThere are 33 friendly cabinets across the country offering free HIV tests.\n"
# A longer document: its passages, sentences and vectors take more than one file system block.
GAMMA = "Gamma clinic\n\n" + "\n\n".join(
    f"The gamma clinic in Shymkent tests migrants without propiska on day {day}, and its outreach "
    f"team number {day} visits saunas near the bazaar with condoms and lubricant." for day in range(1, 120)) + "\n"

# Bytes left free on the file system when the command starts: none, a block, and more, up to
# enough for the change (between 3 and 5 MB here), so the disk fills at each step: the lock's
# note, the journal, the staged file, the embedding cache, the build's files.
FREE_BYTES = (0, 4096, 65_536, 393_216, 1_572_864, 3_000_000, 5_000_000)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, embedders) -> Path:
    """Two documents indexed, their vectors in the index folder's own cache, and the file to add."""
    folder = tmp_path_factory.mktemp("disk-full")
    corpus = folder / "corpus"
    corpus.mkdir()
    for name, text in (("alpha", ALPHA), ("beta", BETA)):
        (corpus / f"{name}.txt").write_text(text, encoding="utf-8")
        (corpus / f"{name}.toml").write_text(f'title = "{name}"\npublisher = "P"\ndate = "2020"\n', encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=folder / "index")
    cached = {space: CachedEmbedder(embedder.inner, settings.embedding_cache_path) for space, embedder in embedders.items()}
    build_index(settings, cached, progress=False)
    (folder / "gamma.txt").write_text(GAMMA, encoding="utf-8")
    return folder


def _on_full_disk(seeded: Path, out: Path, free: int, *command: str) -> subprocess.CompletedProcess:
    """Run `assistant COMMAND` on a copy of `seeded` on a tmpfs with `free` bytes left, then copy
    the collection back out to `out` (the tmpfs goes with the namespace)."""
    if shutil.which("unshare") is None:
        pytest.fail("util-linux's `unshare` is needed to mount a small file system for this test")
    mount = out.parent / f"{out.name}-mnt"
    mount.mkdir()
    python = shlex.quote(sys.executable)
    cli = (f"{python} -m assistant.cli {' '.join(map(shlex.quote, command))} "
           f"--corpus {mount}/c/corpus --index {mount}/c/index")
    script = f"""
set -e
mount -t tmpfs -o size=16m tmpfs {mount}
cp -a {seeded} {mount}/c
dd if=/dev/zero of={mount}/filler bs=64k status=none 2>/dev/null || true
truncate -s -{free} {mount}/filler
sync
set +e
{cli} > {out}.stdout 2> {out}.stderr
echo $? > {out}.rc
rm -f {mount}/filler
cp -a {mount}/c {out}
"""
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], cwd=REPO,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, f"could not set up the small file system: {done.stderr}"
    return subprocess.CompletedProcess(command, int(Path(f"{out}.rc").read_text()),
                                       Path(f"{out}.stdout").read_text(), Path(f"{out}.stderr").read_text())


def _state(folder: Path) -> tuple[Settings, set[str]]:
    """The collection in `folder`, checked whole (corpus and index agree, nothing left over); its ids."""
    settings = Settings(corpus_dir=folder / "corpus", index_dir=folder / "index")
    return settings, assert_consistent(settings)


def _refused_in_one_line(done: subprocess.CompletedProcess) -> None:
    """Exit 2 and one line that says so, last (after the progress and the warnings); no traceback."""
    lines = done.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert done.returncode == 2 and errors == lines[-1:] and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "disk" in errors[0] and "as it was" in errors[0], errors[0]


@pytest.mark.parametrize("free", FREE_BYTES)
def test_add_on_a_full_disk_says_so_in_one_line_and_changes_nothing(seeded, tmp_path, free):
    gamma = seeded / "gamma.txt"
    done = _on_full_disk(seeded, tmp_path / "after", free, "add", str(gamma))
    _, ids = _state(tmp_path / "after")
    if done.returncode == 0:
        assert ids == {"alpha", "beta", "gamma"}
        return
    _refused_in_one_line(done)
    assert ids == {"alpha", "beta"}


def test_the_sizes_above_do_fill_the_disk(seeded, tmp_path):
    """The test of `add` does not pass by having room everywhere."""
    done = _on_full_disk(seeded, tmp_path / "after", FREE_BYTES[3], "add", str(seeded / "gamma.txt"))
    assert done.returncode == 2, done.stderr


@pytest.mark.parametrize("command", [("remove", "beta", "--yes"), ("index",)])
def test_remove_and_index_on_a_full_disk_say_so_in_one_line_and_change_nothing(seeded, tmp_path, command):
    done = _on_full_disk(seeded, tmp_path / "after", 0, *command)
    _refused_in_one_line(done)
    assert _state(tmp_path / "after")[1] == {"alpha", "beta"}


def test_with_room_again_the_refused_change_works(seeded, tmp_path, embedders):
    _on_full_disk(seeded, tmp_path / "after", 0, "add", str(seeded / "gamma.txt"))
    settings, _ = _state(tmp_path / "after")
    done = subprocess.run([sys.executable, "-m", "assistant.cli", "add", str(seeded / "gamma.txt"),
                           "--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)],
                          capture_output=True, text=True, timeout=300, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    assert _state(tmp_path / "after")[1] == {"alpha", "beta", "gamma"}
