"""What `assistant serve` does about each kind of damage to the index folder (issue 28, item 7:
"serve rebuilds for some kinds of damage and refuses for others"). `Assistant.open(rebuild="stale")`,
as serve calls it, on a copy of a small real collection, damaged one way per case. The rule (its
docstring, and the README): anything derived from corpus/ that is missing, damaged or out of date
is rebuilt from corpus/, saying once what was wrong; only what a rebuild cannot fix is refused, in
one line that says what to do. Either way the collection stays whole: after a rebuild one build is
in use and it holds the corpus's documents; after a refusal the index folder is as it was."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.embedding import CachedEmbedder, EmbeddingCache
from assistant.errors import AssistantError
from assistant.query.assistant import NO_INDEX_YET, Assistant
from assistant.settings import Settings
from assistant.store.build import build_index, recover_if_idle
from assistant.store.index import load_index
from assistant.store.layout import CURRENT_FILE, REBUILD_HINT, current_build, manifest_checksum

ALPHA = "Alpha report\n\nSex work was decriminalised in 2001. Police raids on saunas continue in Almaty.\n"
BETA = "Beta note\n\nThere are 33 friendly cabinets across the country offering free HIV tests.\n"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, embedders) -> Path:
    """Two documents indexed once, their vectors in the index folder's own cache."""
    folder = tmp_path_factory.mktemp("serve-damage")
    corpus = folder / "corpus"
    corpus.mkdir()
    for name, text in (("alpha", ALPHA), ("beta", BETA)):
        (corpus / f"{name}.txt").write_text(text, encoding="utf-8")
        (corpus / f"{name}.toml").write_text(f'title = "{name.title()}"\npublisher = "{name.title()}"\ndate = "2020"\n',
                                             encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=folder / "index")
    build_index(settings, _cached(embedders, settings), progress=False)
    return folder


def _cached(embedders, settings: Settings) -> dict:
    """The real models through the collection's own embedding cache, as `serve` makes them."""
    return {space: CachedEmbedder(embedder.inner, settings.embedding_cache_path) for space, embedder in embedders.items()}


def _write(path: Path, data: bytes | str) -> None:
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_byte(path: Path) -> None:
    """One byte changed in the middle, the size kept: only a checksum can tell."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _resign(build: Path, change: Callable[[dict], None]) -> None:
    manifest = json.loads((build / "manifest.json").read_text())
    change(manifest)
    manifest["checksum"] = manifest_checksum(manifest)
    (build / "manifest.json").write_text(json.dumps(manifest))


def _link_build(build: Path) -> None:
    (build.parent / "build-link").symlink_to(build, target_is_directory=True)
    _write(build.parent / CURRENT_FILE, "build-link\n")


Damage = Callable[[Settings, Path], object]
# Each kind of damage, and what serve must do about it: "rebuilt" (from corpus/, the reason said
# once), "loaded" (the index is whole; what was damaged is only a cache, started afresh) or
# "refused" (one line that says what to do; nothing changed).
DAMAGE: dict[str, tuple[Damage, str]] = {
    "no index folder": (lambda s, b: shutil.rmtree(s.index_dir), "rebuilt"),
    "CURRENT missing": (lambda s, b: (s.index_dir / CURRENT_FILE).unlink(), "rebuilt"),
    "CURRENT garbage": (lambda s, b: _write(s.index_dir / CURRENT_FILE, os.urandom(40)), "rebuilt"),
    "CURRENT names a missing build": (lambda s, b: _write(s.index_dir / CURRENT_FILE, "build-gone\n"), "rebuilt"),
    "CURRENT names a link": (lambda s, b: _link_build(b), "rebuilt"),
    "CURRENT.tmp and a write's scratch left over": (
        lambda s, b: [_write(s.index_dir / "CURRENT.tmp", "build-x\n"), _write(s.index_dir / ".CURRENT.tmp-0123abcd", "b")],
        "loaded"),
    "manifest.json unreadable": (lambda s, b: _write(b / "manifest.json", "{"), "rebuilt"),
    "manifest.json edited (checksum)": (lambda s, b: _flip_byte(b / "manifest.json"), "rebuilt"),
    "manifest.json missing": (lambda s, b: (b / "manifest.json").unlink(), "rebuilt"),
    "another format version": (lambda s, b: _resign(b, lambda m: m.update(format_version=999)), "rebuilt"),
    "passages.jsonl missing": (lambda s, b: (b / "passages.jsonl").unlink(), "rebuilt"),
    "passages.jsonl not JSON": (lambda s, b: _write(b / "passages.jsonl", "{not json\n"), "rebuilt"),
    "passages.jsonl one byte changed": (lambda s, b: _flip_byte(b / "passages.jsonl"), "rebuilt"),
    "documents.json emptied": (lambda s, b: _write(b / "documents.json", "[]"), "rebuilt"),
    "dense index truncated": (lambda s, b: _truncate(b / "dense-english-passages.faiss"), "rebuilt"),
    "dense index garbage": (lambda s, b: _write(b / "dense-english-sentences.faiss", b"garbage"), "rebuilt"),
    "dense index one byte changed": (lambda s, b: _flip_byte(b / "dense-multilingual-passages.faiss"), "rebuilt"),
    "lexical index files removed": (lambda s, b: [p.unlink() for p in (b / "lexical").iterdir()], "rebuilt"),
    "latent terms missing": (lambda s, b: (b / "latent-terms-multilingual-passages.npz").unlink(), "rebuilt"),
    "latent terms garbage": (lambda s, b: _write(b / "latent-terms-multilingual-sentences.npz", b"PK\x03\x04 x"),
                             "rebuilt"),
    "a half-written build left over": (lambda s, b: shutil.copytree(b, s.index_dir / "build-20990101T000000-x.partial"),
                                       "loaded"),
    "embedding cache not a database": (
        lambda s, b: _write(s.embedding_cache_path / EmbeddingCache.FILE, b"not a database " * 512), "loaded"),
    "corpus folder missing": (lambda s, b: shutil.rmtree(s.corpus_dir), "refused"),
    # A corpus file that cannot be read is left out of the rebuild and named (issue 28), not refused.
    "corpus sidecar invalid": (lambda s, b: _write(s.corpus_dir / "beta.toml", 'title = "Beta\n'), "rebuilt"),
    "no corpus file readable": (lambda s, b: [_write(s.corpus_dir / f"{name}.toml", 'title = "\n') for name in ("alpha", "beta")],
                                "refused"),
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_serve_rebuilds_what_corpus_can_rebuild_and_refuses_the_rest_in_one_line(seeded, tmp_path, embedders, caplog,
                                                                                 kind):
    shutil.copytree(seeded, tmp_path / "c", symlinks=True)
    settings = Settings(corpus_dir=tmp_path / "c" / "corpus", index_dir=tmp_path / "c" / "index")
    build = current_build(settings.index_dir)
    damage, expected = DAMAGE[kind]
    damage(settings, build)
    before = sorted(path.name for path in settings.index_dir.iterdir()) if settings.index_dir.exists() else []
    announced: list[list[str]] = []
    with caplog.at_level(logging.WARNING):
        try:
            recover_if_idle(settings)  # as `assistant serve` starts (cli._settings), then opens
            assistant = Assistant.open(settings, rebuild="stale", embedders=_cached(embedders, settings),
                                       building=announced.append)
        except AssistantError as error:
            outcome, message = "refused", str(error)
        else:
            outcome, message = ("rebuilt" if announced else "loaded"), ""
    assert outcome == expected, f"{kind}: {outcome} ({announced or message}), the rule says {expected}"
    if outcome == "refused":
        assert "\n" not in message and ":" in message  # one line, what is wrong: what to do
        assert sorted(path.name for path in settings.index_dir.iterdir()) == before
        return
    if outcome == "rebuilt":
        assert len(announced) == 1 and all("\n" not in reason and REBUILD_HINT not in reason for reason in announced[0])
        assert announced[0] == [NO_INDEX_YET] or current_build(settings.index_dir) != build
    if kind == "corpus sidecar invalid":
        assert set(assistant.index.documents) == {"alpha"}
        assert [entry["file"] for entry in assistant.index.manifest["skipped"]] == ["beta.txt"]
    else:
        assert set(assistant.index.documents) == {"alpha", "beta"}
        assert assistant.ask("Where are free HIV tests?", 3).results
    # the collection is whole: one build, CURRENT names it, it loads, nothing half-written is left
    names = sorted(path.name for path in settings.index_dir.iterdir())
    assert [name for name in names if name.startswith("build-")] == [current_build(settings.index_dir).name]
    assert not [name for name in names if ".tmp" in name]
    assert load_index(settings.index_dir, settings).path == assistant.index.path
    if kind == "embedding cache not a database":
        assert any("embedding cache" in r.getMessage() and "starts afresh" in r.getMessage() for r in caplog.records)
