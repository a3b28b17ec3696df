"""Retrieval backends behind one protocol (`RetrievalBackend`), written and opened by a
`BackendStore`: FAISS + bm25s files in the index folder (the embedded default), or Milvus
(`ASSISTANT_BACKEND=milvus`). `create_store` turns the setting into a store."""

from __future__ import annotations

from assistant.errors import AssistantError
from assistant.settings import Settings
from assistant.store.backends.base import BackendStore, Change, Hit, IndexData, PendingWrite, RetrievalBackend, Unit
from assistant.store.backends.faiss import DenseIndex, FaissBackend, FaissStore, LexicalIndex

__all__ = [
    "BackendStore",
    "Change",
    "DenseIndex",
    "FaissBackend",
    "FaissStore",
    "Hit",
    "IndexData",
    "LexicalIndex",
    "PendingWrite",
    "RetrievalBackend",
    "Unit",
    "create_store",
]


def create_store(settings: Settings, name: str | None = None) -> BackendStore:
    """The store of the backend `name` (default: the `backend` setting)."""
    name = name or settings.backend
    if name == "faiss":
        return FaissStore(index_type=settings.faiss_index_type, hnsw_threshold=settings.hnsw_threshold)
    if name == "milvus":
        # imported only here: the default path never loads pymilvus
        from assistant.store.backends.milvus import MilvusStore

        return MilvusStore.from_settings(settings)
    raise AssistantError(f"unknown backend {name!r}: set ASSISTANT_BACKEND to faiss or milvus")
