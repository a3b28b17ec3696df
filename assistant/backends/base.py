"""What a retrieval backend is: dense search per vector space, lexical (BM25) search, and the
stored vectors, all addressed by row (a passage's or a sentence's position in the index).

Fusion, highlighting, abstention and folding stay in the project (`pipeline.py`), so answers do
not change with the backend.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from ..chunking import Passage

Unit = Literal["passage", "sentence"]
"""What a dense search returns rows of: passages, or the sentences inside them."""


@dataclass(frozen=True)
class Hit:
    """A row (a passage's position, or a sentence's for sentence searches) and its score."""

    passage: int
    score: float


@dataclass
class IndexData:
    """Everything a backend stores for one collection, row-aligned with `passages`."""

    passages: list[Passage]
    tokens: list[list[str]]
    """The lexical tokens of each passage."""
    vectors: dict[str, dict[Unit, np.ndarray]] = field(default_factory=dict)
    """Per vector space: the passage vectors and the sentence vectors (sentences in passage order)."""

    @property
    def sentence_passage(self) -> np.ndarray:
        """The passage row of every sentence row."""
        return np.repeat(np.arange(len(self.passages)), [len(p.sentences) for p in self.passages])


@runtime_checkable
class RetrievalBackend(Protocol):
    """Search over one index build. `doc_ids` narrows a search to those documents inside the
    backend (never by discarding hits after the top k)."""

    name: str

    def __len__(self) -> int:
        """Passages stored."""
        ...

    def search_dense(self, space: str, unit: Unit, vector: np.ndarray, k: int,
                     doc_ids: Collection[str] | None = None) -> list[Hit]:
        """The `k` rows of `unit` nearest to `vector` in `space`, best first, by inner product."""
        ...

    def search_lexical(self, tokens: Sequence[str], k: int, doc_ids: Collection[str] | None = None) -> list[Hit]:
        """Passage rows by BM25 over `tokens` (a repeated token counts again), best first; only
        passages sharing at least one token with the query."""
        ...

    def vectors(self, space: str, unit: Unit, rows: Sequence[int]) -> np.ndarray:
        """The stored vectors of `rows`, one row each."""
        ...

    def verify(self, passages: int, sentences: int) -> list[str]:
        """What in the stored data does not match that many passages and sentences; empty when whole."""
        ...

    def describe(self) -> dict:
        """What the index manifest records of this backend (its name, index types, collection)."""
        ...
