"""Passage vectors kept on disk, so re-indexing unchanged text costs a lookup instead of the model.

Only passages and sentences of documents are cached, never questions: questions are sensitive and
are not written anywhere unless the operator turns logging on.

Every row carries a CRC-32 of its key and value, checked on every read: a row that does not match
(a flipped bit on disk) is treated as absent, so its text is embedded again and the row replaced,
with one warning line; a damaged vector is never used. SQLite itself has no checksum on what it
stores, so without this one flipped bit changed the rankings of the next build. A file SQLite
cannot read at all is started afresh (it is only a cache), also with one line. Caches written
before rows carried a checksum (`user_version` 0) are emptied once, when first opened: an old row
cannot be told from a damaged one, and a checksum computed on first read would vouch for whatever
damage is already there; the cost is one build that embeds every text again.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from assistant.embedding.base import Embedder, EmbedderWrapper
from assistant.embedding.sparse import Encoded, SparseVector
from assistant.errors import AssistantError

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA_VERSION = 1
"""1: every row carries the CRC-32 of its key and value (`crc`)."""
_DAMAGED = (11, 26)
"""SQLite's primary result codes for a file it cannot read as a database: SQLITE_CORRUPT, SQLITE_NOTADB."""


def _crc(key: bytes, *parts: bytes) -> int:
    crc = zlib.crc32(key)
    for part in parts:
        crc = zlib.crc32(part, crc)
    return crc


class EmbeddingCache:
    """Vectors keyed by sha256(model fingerprint, text) in one SQLite file, each row checked
    against its CRC-32 when read."""

    FILE = "embeddings.sqlite3"

    def __init__(self, cache_dir: Path, fingerprint: str):
        self.path = Path(cache_dir) / self.FILE
        self.fingerprint = fingerprint.encode()
        self.damaged = 0
        """Rows found damaged (and left out) since the last `take_damaged`."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._use(self._open_schema)
        except (OSError, sqlite3.Error) as error:
            raise AssistantError(f"cannot use the embedding cache {self.path} ({error}): delete it or pick another folder") from None

    def key(self, text: str) -> bytes:
        return hashlib.sha256(self.fingerprint + b"\0" + text.encode("utf-8", "surrogatepass")).digest()

    def get(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """The vectors kept for `keys`; a row whose checksum does not match is left out (and counted
        in `damaged`)."""
        def read(db: sqlite3.Connection) -> dict[bytes, np.ndarray]:
            found = {}
            for key, vector, crc in self._select(db, "SELECT key, vector, crc FROM vectors", keys):
                if crc == _crc(key, vector):
                    found[key] = np.frombuffer(vector, dtype=np.float32)
                else:
                    self.damaged += 1
            return found

        return self._use(read)

    def put(self, items: dict[bytes, np.ndarray]) -> None:
        blobs = ((k, v.astype(np.float32, copy=False).tobytes()) for k, v in items.items())
        rows = [(k, blob, _crc(k, blob)) for k, blob in blobs]
        self._use(lambda db: db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows))

    def get_sparse(self, keys: list[bytes]) -> dict[bytes, SparseVector]:
        """The latent terms kept for `keys` (a text whose dense vector is kept may lack them: it was
        cached before they were); damaged rows are left out as in `get`."""
        def read(db: sqlite3.Connection) -> dict[bytes, SparseVector]:
            found = {}
            for key, indices, vals, crc in self._select(db, "SELECT key, indices, vals, crc FROM latent_terms", keys):
                if crc == _crc(key, indices, vals):
                    found[key] = SparseVector(np.frombuffer(indices, dtype=np.int32), np.frombuffer(vals, dtype=np.float32))
                else:
                    self.damaged += 1
            return found

        return self._use(read)

    def put_sparse(self, items: dict[bytes, SparseVector]) -> None:
        def row(key: bytes, vector: SparseVector) -> tuple[bytes, bytes, bytes, int]:
            indices, vals = vector.indices.astype(np.int32).tobytes(), vector.values.astype(np.float32).tobytes()
            return key, indices, vals, _crc(key, indices, vals)

        rows = [row(k, v) for k, v in items.items()]
        self._use(lambda db: db.executemany("INSERT OR REPLACE INTO latent_terms VALUES (?, ?, ?, ?)", rows))

    def take_damaged(self) -> int:
        """How many damaged rows were found since the last call (the count starts again)."""
        count, self.damaged = self.damaged, 0
        return count

    @staticmethod
    def _select(db: sqlite3.Connection, query: str, keys: list[bytes]) -> Iterable[tuple]:
        for first in range(0, len(keys), 500):
            batch = keys[first : first + 500]
            yield from db.execute(f"{query} WHERE key IN ({','.join('?' * len(batch))})", batch)

    def _open_schema(self, db: sqlite3.Connection) -> None:
        """Create the tables, or empty a cache written before rows carried checksums (see the
        module's docstring): one transaction, so two processes opening it at once agree."""
        if db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return  # the usual case: nothing to write (writing the version anyway cost an fsync per open)
        db.isolation_level = None
        db.execute("BEGIN IMMEDIATE")
        try:
            old = False
            if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:  # not done meanwhile
                old = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                 "AND name IN ('vectors', 'latent_terms')").fetchone()[0] > 0
                db.execute("DROP TABLE IF EXISTS vectors")
                db.execute("DROP TABLE IF EXISTS latent_terms")
                db.execute("CREATE TABLE vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL, crc INTEGER NOT NULL) "
                           "WITHOUT ROWID")
                db.execute("CREATE TABLE latent_terms (key BLOB PRIMARY KEY, indices BLOB NOT NULL, "
                           "vals BLOB NOT NULL, crc INTEGER NOT NULL) WITHOUT ROWID")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if old:
            db.execute("VACUUM")  # give the old rows' space back
            log.warning("the embedding cache %s was written before its rows carried checksums: it starts afresh "
                        "(the next build embeds every text again)", self.path)

    def _use(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` on a connection, committed; a file SQLite reports as damaged is started afresh
        (with one warning line) and `work` run once more on the empty cache. Any other error (a full
        disk) is raised as it is, for the change that is running to report and undo."""
        for attempt in (1, 2):
            try:
                db = sqlite3.connect(self.path, timeout=60)
                try:
                    with db:
                        return work(db)
                finally:
                    db.close()
            except sqlite3.DatabaseError as error:
                if attempt == 2 or (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF not in _DAMAGED:
                    raise
                log.warning("the embedding cache %s is damaged (%s): it starts afresh", self.path, error)
                for path in (self.path, self.path.with_name(self.FILE + "-journal")):
                    path.unlink(missing_ok=True)
                self._use(self._open_schema)
        raise AssertionError("unreachable")


class CachedEmbedder(EmbedderWrapper):
    """An `Embedder` whose passage vectors go through an `EmbeddingCache`: only unseen texts reach
    the model. Questions pass straight through, uncached."""

    def __init__(self, inner: Embedder, cache_dir: Path):
        super().__init__(inner)
        self.cache = EmbeddingCache(cache_dir, inner.fingerprint)

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False, description: str = "passages") -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        keys = [self.cache.key(text) for text in texts]
        vectors = self.cache.get(list(set(keys)))
        self._report_damage(description)
        missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in vectors}
        if missing:
            (log.info if progress else log.debug)("%s: %d of %d texts not cached", description, len(missing), len(texts))
            fresh = dict(zip(missing, self.inner.encode_passages(list(missing.values()), progress=progress,
                                                                  description=description), strict=True))
            self.cache.put(fresh)
            vectors.update(fresh)
        return np.ascontiguousarray(np.stack([vectors[key] for key in keys]))

    def encode_passages_with_sparse(self, texts: Sequence[str], *, progress: bool = False,
                                    description: str = "passages") -> Encoded:
        """Dense vectors and latent terms, each from the cache when it holds both for a text; the
        model encodes the rest in one pass."""
        if not texts:
            return Encoded(np.zeros((0, self.dimension), dtype=np.float32), [])
        keys = [self.cache.key(text) for text in texts]
        unique = list(set(keys))
        vectors, terms = self.cache.get(unique), self.cache.get_sparse(unique)
        self._report_damage(description)
        missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in vectors or key not in terms}
        if missing:
            (log.info if progress else log.debug)("%s: %d of %d texts not cached", description, len(missing), len(texts))
            fresh = self.inner.encode_passages_with_sparse(list(missing.values()), progress=progress,  # type: ignore[attr-defined]
                                                           description=description)
            new_vectors = dict(zip(missing, fresh.dense, strict=True))
            new_terms = dict(zip(missing, fresh.sparse, strict=True))
            self.cache.put(new_vectors)
            self.cache.put_sparse(new_terms)
            vectors.update(new_vectors)
            terms.update(new_terms)
        return Encoded(np.ascontiguousarray(np.stack([vectors[key] for key in keys])), [terms[key] for key in keys])

    def _report_damage(self, description: str) -> None:
        """One warning line for the damaged rows the last lookup left out (they are embedded again)."""
        damaged = self.cache.take_damaged()
        if damaged:
            log.warning("%s: %d damaged %s in the embedding cache %s (checksum mismatch), embedded again",
                        description, damaged, "entry" if damaged == 1 else "entries", self.cache.path)
