"""Dense embedding models behind one small protocol (`Embedder`), and the factory that turns the
settings into the models an index is built and queried with.

An index holds one vector space per model: "english" (all-MiniLM-L6-v2 through
sentence-transformers by default) and, when enabled, "multilingual". The rest of the project
asks for a space by name and never knows which model or runtime fills it.
"""

from __future__ import annotations

from ..settings import Settings
from .base import Embedder, encode_in_batches, normalized
from .cache import CachedEmbedder, EmbeddingCache
from .transformers import (
    MINILM_NAME,
    SentenceTransformerEmbedder,
    bundled_model_path,
    model_fingerprint,
    vocabulary_words,
)

ENGLISH = "english"

__all__ = [
    "ENGLISH",
    "CachedEmbedder",
    "Embedder",
    "EmbeddingCache",
    "MINILM_NAME",
    "SentenceTransformerEmbedder",
    "bundled_model_path",
    "create_embedders",
    "encode_in_batches",
    "model_fingerprint",
    "normalized",
    "vocabulary_words",
]


def create_embedders(settings: Settings, *, cached: bool = False) -> dict[str, Embedder]:
    """The models of every vector space, by space name. `cached` keeps passage vectors in the
    on-disk cache (`embedding_cache_dir`), so a rebuild embeds only text it has not seen."""
    embedders: dict[str, Embedder] = {ENGLISH: SentenceTransformerEmbedder(settings.model_path, settings.embed_batch_size)}
    if cached:
        embedders = {space: CachedEmbedder(embedder, settings.embedding_cache_path) for space, embedder in embedders.items()}
    return embedders
