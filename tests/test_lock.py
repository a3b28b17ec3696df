"""The lock files (requirements/*.txt, `make lock`): complete, hashed, agreeing with each other and
with pyproject.toml, and what this environment actually runs."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
LOCKS = {name: REPO / "requirements" / f"{name}.txt" for name in ("base", "milvus", "dev")}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def pins(path: Path) -> dict[str, tuple[str, int]]:
    """Each pinned package of a lock file: its version and how many hashes it lists."""
    found: dict[str, tuple[str, int]] = {}
    name = None
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            name = canonicalize_name(match.group(1))
            assert name not in found, f"{path.name} pins {name} twice"
            found[name] = (match.group(2), 0)
        elif name and line.strip().startswith("--hash=sha256:"):
            found[name] = (found[name][0], found[name][1] + 1)
        elif line.strip() and not line.lstrip().startswith("#") and not line.startswith(" "):
            pytest.fail(f"{path.name}: an unpinned line {line!r}")
    return found


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_every_pin_has_a_hash_and_torch_is_the_local_cpu_build():
    for name, path in LOCKS.items():
        locked = pins(path)
        assert len(locked) > 40, name
        assert all(count >= 1 for _, count in locked.values()), [p for p, (_, c) in locked.items() if not c]
        assert locked["torch"][0] == "2.13.0+cpu", "torch must stay the local CPU build (never the CUDA one)"


def test_the_three_locks_agree():
    """base.txt and milvus.txt are the same resolution as dev.txt, less the extras they leave out."""
    dev = pins(LOCKS["dev"])
    for name in ("base", "milvus"):
        for package, (pinned, _) in pins(LOCKS[name]).items():
            assert dev.get(package, (None,))[0] == pinned, f"{name}.txt pins {package}=={pinned}, dev.txt does not"
    assert set(pins(LOCKS["base"])) < set(pins(LOCKS["milvus"])) < set(dev)


@pytest.mark.parametrize(("lock", "extras"), [("base", ()), ("milvus", ("milvus",)), ("dev", ("dev", "milvus"))])
def test_every_declared_dependency_is_locked_within_its_range(lock, extras):
    """A range edited in pyproject.toml without `make lock` fails here, not on a fresh machine."""
    declared = [Requirement(text) for text in project()["dependencies"]]
    for extra in extras:
        declared += [Requirement(text) for text in project()["optional-dependencies"][extra]]
    locked = pins(LOCKS[lock])
    for requirement in declared:
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not in {lock}.txt: run `make lock`"
        pinned = Version(locked[name][0])
        assert requirement.specifier.contains(pinned, prereleases=True) or (
            requirement.specifier.contains(Version(pinned.public), prereleases=True)), (
            f"{lock}.txt pins {name}=={pinned}, outside {requirement.specifier}: run `make lock`")


def test_this_environment_runs_the_locked_versions():
    """What `make install` put in .venv is the lock (a stale .venv is named, not silently tested)."""
    wrong = []
    for package, (pinned, _) in pins(LOCKS["dev"]).items():
        try:
            installed = version(package)
        except PackageNotFoundError:
            wrong.append(f"{package} missing")
            continue
        if Version(installed) != Version(pinned):
            wrong.append(f"{package} {installed} (lock: {pinned})")
    assert not wrong, f"not the lock's versions: {wrong[:5]}: run `make install`"
