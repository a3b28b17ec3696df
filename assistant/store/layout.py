"""The index on disk: which build is in use, and whether its files are whole.

Layout (see index/README.md): `index/CURRENT` names the build in use, `index/build-*/` hold the
files. Damage is named, never followed: `CURRENT` must name a `build-*` folder inside the index
folder (garbage, `..`, an absolute path or a link are "damaged"), and the manifest records the size
and CRC-32 of every file of its build, and a CRC-32 of itself, checked on every load. CRC-32 (zlib,
about 4 GB/s here against 1.6 for SHA-256) is enough: it is there to catch silent corruption (a
flipped byte, a torn write), not tampering, since whoever can rewrite a file can rewrite the manifest.
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

from assistant.errors import IndexCorruptError, IndexMissingError

FORMAT_VERSION = 5
"""5: the manifest records the size and CRC-32 of every file and of itself."""
CURRENT_FILE = "CURRENT"
_BUILD_NAME = re.compile(r"build-[A-Za-z0-9T-]{1,64}")
_CHUNK = 1 << 22
MANIFEST = "manifest.json"
DOCUMENTS = "documents.json"
PASSAGES = "passages.jsonl"
LATENT_TERMS = "latent-terms-{space}-{unit}s.npz"
"""The latent terms of a space's passages or sentences (`embedding/sparse.py`), one row each."""
REBUILD_HINT = "run `assistant index` to rebuild it"


def current_build(index_dir: Path) -> Path:
    """The build folder `CURRENT` names: a `build-*` folder right inside `index_dir` (not a link);
    anything else (garbage, `..`, an absolute path) is an IndexCorruptError, never followed."""
    pointer = index_dir / CURRENT_FILE
    try:
        with open(pointer, "rb") as handle:
            raw = handle.read(257)
    except FileNotFoundError:
        raise IndexMissingError(f"no index in {index_dir}: {REBUILD_HINT}") from None
    except OSError as error:
        raise IndexCorruptError(f"the index pointer {pointer} is unreadable ({error.strerror}): {REBUILD_HINT}") from None
    try:
        name = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        name = None
    if name is None or not _BUILD_NAME.fullmatch(name):
        shown = repr(raw[:40]) if name is None else repr(name[:40])
        raise IndexCorruptError(f"the index pointer {pointer} is damaged (it holds {shown}, not a build name): {REBUILD_HINT}")
    build = index_dir / name
    if build.is_symlink() or not build.is_dir():
        raise IndexCorruptError(f"the index in {index_dir} points to a missing build {name!r}: {REBUILD_HINT}")
    return build


def load_manifest(index_dir: Path) -> dict:
    """The manifest of the build in use, checked against its own CRC (an index of another format
    version is reported as such first)."""
    build = current_build(index_dir)
    try:
        manifest = json.loads((build / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise IndexCorruptError(f"the index manifest in {build} is unreadable ({short_error(error)}): {REBUILD_HINT}") from None
    if not isinstance(manifest, dict):
        raise IndexCorruptError(f"the index manifest in {build} is not an object: {REBUILD_HINT}")
    if manifest.get("format_version") == FORMAT_VERSION and manifest.get("checksum") != manifest_checksum(manifest):
        raise IndexCorruptError(f"the index in {build} is damaged (manifest.json does not match its checksum): "
                                f"{REBUILD_HINT}")
    return manifest


def manifest_checksum(manifest: dict) -> str:
    """The CRC-32 of a manifest's content without its own `checksum` field (keys sorted)."""
    body = json.dumps({k: v for k, v in manifest.items() if k != "checksum"}, sort_keys=True, ensure_ascii=True)
    return f"{zlib.crc32(body.encode()):08x}"


def file_checksums(folder: Path) -> dict[str, list]:
    """Size and CRC-32 of every file under `folder` but the manifest, by relative path."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            found[path.relative_to(folder).as_posix()] = [path.stat().st_size, _crc32(path)]
    return found


def verify_files(build: Path, manifest: dict) -> list[str]:
    """What differs between the build's files and the sizes and CRCs its manifest records."""
    recorded = manifest.get("files")
    if not isinstance(recorded, dict) or not recorded:
        return ["the manifest records no file checksums"]
    problems = []
    for name, expected in sorted(recorded.items()):
        path = build / name
        if not _plain_relative(name) or not isinstance(expected, list) or len(expected) != 2:
            problems.append(f"the manifest entry {name!r} is malformed")
        elif not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != expected[0]:
            problems.append(f"{name} is {path.stat().st_size} bytes, {expected[0]} were written")
        elif _crc32(path) != expected[1]:
            problems.append(f"{name} does not match its checksum")
    return problems


def _plain_relative(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and all(part not in ("", ".", "..") for part in parts)


def _crc32(path: Path) -> str:
    crc = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return f"{crc:08x}"


def damage(error: Exception) -> str:
    """What is wrong, as an IndexCorruptError says it, without the advice to rebuild: the reason a
    rebuild is under way (`Assistant.open`)."""
    return str(error).removesuffix(f": {REBUILD_HINT}")


def short_error(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:160]
