"""What a retrieval backend is: dense search per vector space, lexical (BM25) search, and the
stored vectors, all addressed by row (a passage's or a sentence's position in the index).

Fusion, highlighting, abstention and folding stay in the project (`assistant/query/`), so answers do
not change with the backend.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from scipy import sparse as scipy_sparse

from assistant.ingest.chunking import Passage

Unit = Literal["passage", "sentence"]
"""What a dense search returns rows of: passages, or the sentences inside them."""


@dataclass(frozen=True)
class Hit:
    """A row (a passage's position, or a sentence's for sentence searches) and its score."""

    passage: int
    score: float


TIE_MARGIN = 8
"""Extra hits a dense search asks its engine for, so scores tied at the cut are ordered as
`in_rank_order` says whichever engine found them."""
SCORE_GRAIN = 1e-6
"""Scores that round to the same multiple of this are one score. FAISS and Milvus-lite compute the
same inner product with different float rounding, and ordered two copies of one sentence
differently (so the gold question kk005 got another 8th passage on Milvus)."""


def in_rank_order(hits: list[Hit], k: int) -> list[Hit]:
    """The first `k` hits by score, scores equal at `SCORE_GRAIN` ordered by row, so every
    backend ranks alike and a row tied at the cut is the same row in each."""
    return sorted(hits, key=lambda hit: (-round(hit.score / SCORE_GRAIN), hit.passage))[:k]


@dataclass
class IndexData:
    """Everything a backend stores for one collection, row-aligned with `passages`."""

    passages: list[Passage]
    tokens: list[list[str]]
    """The lexical tokens of each passage."""
    vectors: dict[str, dict[Unit, np.ndarray]] = field(default_factory=dict)
    """Per vector space: the passage vectors and the sentence vectors (sentences in passage order)."""
    latent_terms: dict[str, dict[Unit, scipy_sparse.csc_matrix]] = field(default_factory=dict)
    """Per vector space whose model gives them: the passages' and sentences' latent terms, one row
    each, kept beside the backend's files (every backend's build reads the same)."""

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

    def vectors(self, space: str, unit: Unit, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """The stored vectors of `rows`, one row each."""
        ...

    def verify(self, passages: int, sentences: int) -> list[str]:
        """What in the stored data does not match that many passages and sentences; empty when whole."""
        ...

    def describe(self) -> dict:
        """What the index manifest records of this backend (its name, index types, collection)."""
        ...


@dataclass(frozen=True)
class Change:
    """What an update changes relative to the build in use: documents added and removed. A store
    may apply just that (Milvus upserts and deletes those documents' passages); one that cannot
    (FAISS) writes everything anew."""

    added: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()


@runtime_checkable
class PendingWrite(Protocol):
    """A build's backend data, written but not yet in use."""

    description: dict
    """What the manifest records of it (backend name, collection or generation, index types)."""

    def commit(self) -> None:
        """Called once `index/CURRENT` names the new build: finish (e.g. delete removed passages)."""
        ...

    def rollback(self) -> None:
        """Called when the new build will not be used: undo what `write` changed."""
        ...


@runtime_checkable
class BackendStore(Protocol):
    """Writes and opens the backend data of index builds (one store per `ASSISTANT_BACKEND`)."""

    name: str

    def write(self, data: IndexData, folder: Path, *, current: dict | None = None,
              change: Change | None = None) -> PendingWrite:
        """Store `data` for a new build whose files go to `folder`. `current` is the description of
        the build in use (from its manifest) and `change` what differs from it, when known."""
        ...

    def open(self, folder: Path, description: dict, passages: list[Passage]) -> RetrievalBackend:
        """The backend of a build, from the description its manifest records."""
        ...

    def discard(self, description: dict, *, keep: dict) -> None:
        """A build is no longer in use: free what it alone holds (not what `keep`, the build in
        use, shares with it)."""
        ...


@runtime_checkable
class RecoverableStore(BackendStore, Protocol):
    """A store that keeps data outside the build folder (so a dead change can leave some behind) and
    knows how to finish or undo it. FAISS keeps everything in the build folder and needs no hook;
    Milvus has none yet, so a change it lost half-way is redone by `assistant index` (a warning says so)."""

    def recover(self, description: dict | None, *, commit: bool) -> None:
        """After a process died in the middle of a change (see transaction.py), what its
        `PendingWrite` would have done: `commit=True` when `index/CURRENT` names the new build (do
        what `commit` does), `commit=False` when it does not (undo what `write` changed).
        `description` is the new build's backend description from its manifest, None when the
        process died before the build folder was complete (what `write` had started is then known
        only to the store, e.g. by the names it gives new data). Must be safe to run twice. A store
        keeping everything in the build folder has nothing to do; `build.recover` calls this hook only
        on a store that has it, and warns on a roll-back when it has not."""
        ...
