"""The embedding cache checks what it reads (issue 28, finding 6): one flipped bit in a kept vector
or latent-terms row is found by the row's checksum, embedded again and said once, never used; a
file SQLite cannot read starts afresh; a cache written before rows carried checksums is emptied
once. The first tests need no model (vectors written by hand); the last builds real indexes."""

from __future__ import annotations

import logging
import sqlite3
import struct
from pathlib import Path

import numpy as np
import pytest

from assistant.embedding import CachedEmbedder, EmbeddingCache
from assistant.embedding.sparse import SparseVector
from assistant.settings import Settings
from assistant.store.build import build_index
from assistant.store.index import load_index

ALPHA = "Alpha report\n\nSex work was decriminalised in 2001. Police raids on saunas continue in Almaty.\n"
BETA = "Beta note\n\nThere are 33 friendly cabinets across the country offering free HIV tests.\n"


def flip_bit(db_file: Path, table: str, column: str, key: bytes, bit: int = 30) -> None:
    """Flip one bit of the first 4-byte number of a row's value, as a bad disk would (bit 30 of a
    float32 is its exponent's highest: 0.05 becomes about 1e37), leaving the row's checksum alone."""
    with sqlite3.connect(db_file) as db:
        (blob,) = db.execute(f"SELECT {column} FROM {table} WHERE key = ?", (key,)).fetchone()
        (number,) = struct.unpack_from("<I", blob)
        damaged = struct.pack("<I", number ^ (1 << bit)) + blob[4:]
        db.execute(f"UPDATE {table} SET {column} = ? WHERE key = ?", (damaged, key))
    db.close()


def test_a_damaged_row_is_left_out_and_counted(tmp_path):
    cache = EmbeddingCache(tmp_path, "model")
    keys = [cache.key(text) for text in ("one", "two")]
    vectors = {key: np.full(4, 0.5, dtype=np.float32) for key in keys}
    cache.put(vectors)
    cache.put_sparse({key: SparseVector(np.array([3, 7], dtype=np.int32), np.array([0.8, 0.6], dtype=np.float32))
                      for key in keys})
    flip_bit(cache.path, "vectors", "vector", keys[0])
    flip_bit(cache.path, "latent_terms", "vals", keys[1], bit=0)  # the lowest bit of a weight: tiny, still found
    found, terms = cache.get(keys), cache.get_sparse(keys)
    assert list(found) == [keys[1]] and np.array_equal(found[keys[1]], vectors[keys[1]])
    assert list(terms) == [keys[0]]
    assert cache.take_damaged() == 2 and cache.take_damaged() == 0
    cache.put({keys[0]: vectors[keys[0]]})  # written again: whole again
    assert np.array_equal(cache.get(keys)[keys[0]], vectors[keys[0]]) and cache.take_damaged() == 0


def test_a_cache_from_before_row_checksums_is_emptied_once(tmp_path, caplog):
    """Old rows cannot be told from damaged ones: they are dropped, with one line, the first time."""
    with sqlite3.connect(tmp_path / EmbeddingCache.FILE) as db:
        db.execute("CREATE TABLE vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL) WITHOUT ROWID")
        db.execute("CREATE TABLE latent_terms (key BLOB PRIMARY KEY, indices BLOB NOT NULL, vals BLOB NOT NULL) WITHOUT ROWID")
        key = b"k" * 32
        db.execute("INSERT INTO vectors VALUES (?, ?)", (key, np.ones(4, dtype=np.float32).tobytes()))
    db.close()
    with caplog.at_level(logging.WARNING, logger="assistant.embedding.cache"):
        cache = EmbeddingCache(tmp_path, "model")
        assert cache.get([key]) == {}
        EmbeddingCache(tmp_path, "model")  # opened again: nothing more to say
    assert len(caplog.records) == 1 and "before its rows carried checksums" in caplog.records[0].getMessage()


def test_a_file_sqlite_cannot_read_starts_afresh(tmp_path, caplog):
    (tmp_path / EmbeddingCache.FILE).write_bytes(b"not a database, " * 512)
    with caplog.at_level(logging.WARNING, logger="assistant.embedding.cache"):
        cache = EmbeddingCache(tmp_path, "model")
    assert [r.getMessage() for r in caplog.records if "is damaged" in r.getMessage() and "starts afresh" in r.getMessage()]
    key = cache.key("text")
    cache.put({key: np.ones(4, dtype=np.float32)})
    assert list(cache.get([key])) == [key]


def _collection(folder: Path) -> Settings:
    corpus = folder / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "alpha.txt").write_text(ALPHA, encoding="utf-8")
    (corpus / "beta.txt").write_text(BETA, encoding="utf-8")
    for name in ("alpha", "beta"):
        (corpus / f"{name}.toml").write_text(f'title = "{name.title()}"\npublisher = "{name.title()}"\ndate = "2020"\n',
                                             encoding="utf-8")
    return Settings(corpus_dir=corpus, index_dir=folder / "index")


def _build(settings: Settings, embedders: dict):
    """A build as `assistant index` makes it: the real models through the index folder's own cache."""
    return build_index(settings, {space: CachedEmbedder(embedder.inner, settings.embedding_cache_path)
                                  for space, embedder in embedders.items()}, progress=False)


@pytest.mark.models
@pytest.mark.parametrize("space, table, column", [("english", "vectors", "vector"),
                                                  ("multilingual", "vectors", "vector"),
                                                  ("multilingual", "latent_terms", "vals")])
def test_a_flipped_bit_in_the_cache_is_embedded_again_by_the_next_index(tmp_path, embedders, caplog, space, table,
                                                                        column):
    settings = _collection(tmp_path / "damaged")
    first = _build(settings, embedders)
    text = first.passages[0].text
    flip_bit(settings.embedding_cache_path / EmbeddingCache.FILE, table, column,
             EmbeddingCache(settings.embedding_cache_path, embedders[space].fingerprint).key(text))
    with caplog.at_level(logging.WARNING, logger="assistant.embedding"):
        rebuilt = _build(settings, embedders)
    fresh = _build(_collection(tmp_path / "fresh"), embedders)  # its own, empty cache
    rows = range(len(fresh.passages))
    for unit in ("passage", "sentence"):
        count = len(fresh.passages) if unit == "passage" else len(fresh.sentence_passage)
        assert np.allclose(rebuilt.backend.vectors(space, unit, range(count)),
                           fresh.backend.vectors(space, unit, range(count)), atol=1e-5)
    if space in rebuilt.latent_terms:
        assert np.allclose(rebuilt.latent_terms[space]["passage"].toarray(),
                           fresh.latent_terms[space]["passage"].toarray(), atol=1e-5)
    question = fresh.backend.vectors(space, "sentence", [0])[0]
    ranked = [[hit.passage for hit in built.backend.search_dense(space, "passage", question, len(rows))]
              for built in (rebuilt, fresh)]
    assert ranked[0] == ranked[1]
    assert load_index(settings.index_dir, settings).manifest["passages"] == len(fresh.passages)
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "damaged entry in the embedding cache" in warnings[0] and "\n" not in warnings[0]
