"""Retrieval backends behind one protocol (`RetrievalBackend`): FAISS + bm25s in the index folder
(the embedded default), or Milvus (`ASSISTANT_BACKEND=milvus`)."""

from __future__ import annotations

from .base import Hit, IndexData, RetrievalBackend, Unit
from .faiss import DenseIndex, FaissBackend, LexicalIndex

__all__ = ["DenseIndex", "FaissBackend", "Hit", "IndexData", "LexicalIndex", "RetrievalBackend", "Unit"]
