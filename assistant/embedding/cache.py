"""Passage vectors kept on disk, so re-indexing unchanged text costs a lookup instead of the model.

Only passages and sentences of documents are cached, never questions: questions are sensitive and
are not written anywhere unless the operator turns logging on.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.embedding.base import Embedder, EmbedderWrapper
from assistant.embedding.sparse import Encoded, SparseVector
from assistant.errors import AssistantError

log = logging.getLogger(__name__)


class EmbeddingCache:
    """Vectors keyed by sha256(model fingerprint, text) in one SQLite file."""

    FILE = "embeddings.sqlite3"

    def __init__(self, cache_dir: Path, fingerprint: str):
        self.path = Path(cache_dir) / self.FILE
        self.fingerprint = fingerprint.encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL) WITHOUT ROWID")
                db.execute("CREATE TABLE IF NOT EXISTS latent_terms (key BLOB PRIMARY KEY, indices BLOB NOT NULL, "
                           "vals BLOB NOT NULL) WITHOUT ROWID")
        except (OSError, sqlite3.Error) as error:
            raise AssistantError(f"cannot use the embedding cache {self.path} ({error}): delete it or pick another folder") from None

    def key(self, text: str) -> bytes:
        return hashlib.sha256(self.fingerprint + b"\0" + text.encode("utf-8", "surrogatepass")).digest()

    def get(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        with self._connect() as db:
            for first in range(0, len(keys), 500):
                batch = keys[first : first + 500]
                rows = db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(batch))})", batch)
                found.update((key, np.frombuffer(vector, dtype=np.float32)) for key, vector in rows)
        return found

    def put(self, items: dict[bytes, np.ndarray]) -> None:
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", ((k, v.tobytes()) for k, v in items.items()))

    def get_sparse(self, keys: list[bytes]) -> dict[bytes, SparseVector]:
        """The latent terms kept for `keys` (a text whose dense vector is kept may lack them: it was
        cached before they were)."""
        found: dict[bytes, SparseVector] = {}
        with self._connect() as db:
            for first in range(0, len(keys), 500):
                batch = keys[first : first + 500]
                rows = db.execute(f"SELECT key, indices, vals FROM latent_terms WHERE key IN ({','.join('?' * len(batch))})",
                                  batch)
                found.update((key, SparseVector(np.frombuffer(indices, dtype=np.int32), np.frombuffer(vals, dtype=np.float32)))
                             for key, indices, vals in rows)
        return found

    def put_sparse(self, items: dict[bytes, SparseVector]) -> None:
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO latent_terms VALUES (?, ?, ?)",
                           ((k, v.indices.astype(np.int32).tobytes(), v.values.astype(np.float32).tobytes())
                            for k, v in items.items()))

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)


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
