"""The embedded default backend: FAISS for dense search, bm25s for BM25, files in the build folder.

Per vector space, a passage index and a sentence index (`dense-<space>-<unit>.faiss`), exact
(flat) below `hnsw_threshold` passages and HNSW above; `lexical/` holds the bm25s index.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import cast

import numpy as np

from assistant.ingest.chunking import Passage
from assistant.store.backends.base import TIE_MARGIN, Change, Hit, IndexData, Unit, in_rank_order

LEXICAL = "lexical"


def dense_file(space: str, unit: Unit) -> str:
    """The file of one space's passage or sentence vectors."""
    return f"dense-{space}-{unit}s.faiss"


class DenseIndex:
    """Normalized vectors in FAISS; inner product is cosine similarity."""

    def __init__(self, index):
        self.faiss = index

    @classmethod
    def build(cls, vectors: np.ndarray, index_type: str, hnsw_threshold: int) -> DenseIndex:
        import faiss

        dimension = vectors.shape[1]
        index: faiss.Index
        if index_type == "hnsw" or (index_type == "auto" and len(vectors) >= hnsw_threshold):
            index = faiss.IndexHNSWFlat(dimension, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = 64
        else:
            index = faiss.IndexFlatIP(dimension)
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index)

    @classmethod
    def load(cls, path: Path) -> DenseIndex:
        import faiss

        return cls(faiss.read_index(str(path)))

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.faiss, str(path))

    def __len__(self) -> int:
        return int(self.faiss.ntotal)

    def vectors(self) -> np.ndarray:
        """Every stored vector, row i for id i: a read-only view of FAISS's own storage (flat and
        HNSW indexes keep the vectors whole), so they are held in memory and on disk once."""
        import faiss

        # An HNSWFlat index's storage is an IndexFlat; downcast_index is typed as returning any Index.
        storage = (self.faiss if isinstance(self.faiss, faiss.IndexFlat)
                   else cast("faiss.IndexFlat", faiss.downcast_index(self.faiss.storage)))
        view = faiss.rev_swig_ptr(storage.get_xb(), len(self) * self.faiss.d).reshape(len(self), self.faiss.d)
        view.flags.writeable = False
        return view

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[Hit]:
        """The `k` nearest ids; with `allowed` (sorted ids), only those, filtered inside FAISS."""
        import faiss

        wanted = k
        k = min(k + TIE_MARGIN, len(self) if allowed is None else len(allowed))
        if k <= 0 or wanted <= 0:
            return []
        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(allowed.astype(np.int64))
            # faiss's bundled stubs lack SearchParametersHNSW and the keyword arguments that its
            # Python wrapper adds to every SearchParameters class.
            params = (faiss.SearchParametersHNSW(sel=selector)  # type: ignore[attr-defined]
                      if isinstance(self.faiss, faiss.IndexHNSW)
                      else faiss.SearchParameters(sel=selector))  # type: ignore[call-arg]
        scores, ids = self.faiss.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k, params=params)
        return in_rank_order([Hit(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0], wanted)


class LexicalIndex:
    """BM25 (bm25s, Lucene variant) over the project's own tokens."""

    def __init__(self, retriever, size: int):
        self.bm25 = retriever
        self.size = size

    @classmethod
    def build(cls, token_lists: list[list[str]]) -> LexicalIndex:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        retriever = bm25s.BM25()
        retriever.index(token_lists, show_progress=False)
        return cls(retriever, len(token_lists))

    @classmethod
    def load(cls, path: Path, size: int) -> LexicalIndex:
        import bm25s

        return cls(bm25s.BM25.load(str(path), show_progress=False), size)

    def save(self, path: Path) -> None:
        self.bm25.save(str(path), show_progress=False)

    def document_count(self) -> int:
        """How many passages the stored index scores (its length of a score vector)."""
        return len(self.bm25.get_scores_from_ids([]))

    def scores(self, tokens: Sequence[str], mask: np.ndarray | None = None) -> np.ndarray:
        """The BM25 score of every passage (zero where it shares no token); `mask` zeroes the rest."""
        ids = self.bm25.get_tokens_ids(list(tokens))
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.bm25.get_scores_from_ids(ids, weight_mask=mask), dtype=np.float32)

    def search(self, tokens: Sequence[str], k: int, mask: np.ndarray | None = None) -> list[Hit]:
        """BM25 hits with a positive score: passages sharing no word with the question would
        only add noise to the fusion."""
        scores = self.scores(tokens, mask)
        positive = np.flatnonzero(scores > 0)
        if not len(positive):
            return []
        top = positive[np.argsort(-scores[positive], kind="stable")[:k]]
        return [Hit(int(i), float(scores[i])) for i in top]


class FaissBackend:
    """FAISS + bm25s over one build, loaded in memory."""

    name = "faiss"

    def __init__(self, passages: list[Passage], dense: dict[tuple[str, Unit], DenseIndex], lexical: LexicalIndex):
        self.dense = dense
        self.lexical = lexical
        self._passage_rows: dict[str, np.ndarray] = {}
        self._sentence_rows: dict[str, np.ndarray] = {}
        first_sentence = 0
        rows: dict[str, list[int]] = {}
        sentences: dict[str, list[range]] = {}
        for row, passage in enumerate(passages):
            rows.setdefault(passage.doc_id, []).append(row)
            sentences.setdefault(passage.doc_id, []).append(range(first_sentence, first_sentence + len(passage.sentences)))
            first_sentence += len(passage.sentences)
        self._passage_rows = {doc: np.asarray(found, dtype=np.int64) for doc, found in rows.items()}
        self._sentence_rows = {doc: np.fromiter((i for r in found for i in r), dtype=np.int64)
                               for doc, found in sentences.items()}
        self._size = len(passages)

    @classmethod
    def build(cls, data: IndexData, *, index_type: str, hnsw_threshold: int) -> FaissBackend:
        dense = {(space, unit): DenseIndex.build(vectors, index_type, hnsw_threshold)
                 for space, units in data.vectors.items() for unit, vectors in units.items()}
        return cls(data.passages, dense, LexicalIndex.build(data.tokens))

    @classmethod
    def load(cls, folder: Path, passages: list[Passage], spaces: Sequence[str]) -> FaissBackend:
        units: tuple[Unit, ...] = ("passage", "sentence")
        dense = {(space, unit): DenseIndex.load(folder / dense_file(space, unit)) for space in spaces for unit in units}
        return cls(passages, dense, LexicalIndex.load(folder / LEXICAL, len(passages)))

    def save(self, folder: Path) -> None:
        for (space, unit), index in self.dense.items():
            index.save(folder / dense_file(space, unit))
        self.lexical.save(folder / LEXICAL)

    def __len__(self) -> int:
        return self._size

    def verify(self, passages: int, sentences: int) -> list[str]:
        """What does not match `passages` and `sentences` (counts), empty when the build is whole."""
        problems = []
        for (space, unit), index in self.dense.items():
            expected = passages if unit == "passage" else sentences
            if len(index) != expected:
                problems.append(f"{len(index)} {space} {unit} vectors for {expected} {unit}s")
        if self.lexical.document_count() != passages:
            problems.append("the lexical index does not match the passages")
        return problems

    def describe(self) -> dict:
        """What the manifest records of this backend."""
        return {"name": self.name, "dense_index": {f"{space}/{unit}": type(index.faiss).__name__
                                                   for (space, unit), index in self.dense.items()}}

    def search_dense(self, space: str, unit: Unit, vector: np.ndarray, k: int,
                     doc_ids: Collection[str] | None = None) -> list[Hit]:
        allowed = None if doc_ids is None else self._allowed(self._passage_rows if unit == "passage" else self._sentence_rows, doc_ids)
        return self.dense[(space, unit)].search(vector, k, allowed)

    def search_lexical(self, tokens: Sequence[str], k: int, doc_ids: Collection[str] | None = None) -> list[Hit]:
        mask = None
        if doc_ids is not None:
            mask = np.zeros(self._size, dtype=np.float32)
            mask[self._allowed(self._passage_rows, doc_ids)] = 1.0
        return self.lexical.search(tokens, k, mask)

    def vectors(self, space: str, unit: Unit, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        return self.dense[(space, unit)].vectors()[np.asarray(rows, dtype=np.int64)]

    def all_vectors(self, space: str, unit: Unit) -> np.ndarray:
        """Every stored vector of a space and unit, as a read-only view (no copy)."""
        return self.dense[(space, unit)].vectors()

    @staticmethod
    def _allowed(rows_by_doc: dict[str, np.ndarray], doc_ids: Collection[str]) -> np.ndarray:
        found = [rows_by_doc[doc] for doc in doc_ids if doc in rows_by_doc]
        return np.sort(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)


class _Written:
    """A FAISS build is complete once its files are in the folder: nothing to commit or undo
    (build.py removes the folder of a build that is not used)."""

    def __init__(self, description: dict):
        self.description = description

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass


class FaissStore:
    """FAISS + bm25s files inside each build folder; every write is a whole new generation."""

    name = "faiss"

    def __init__(self, *, index_type: str, hnsw_threshold: int):
        self.index_type = index_type
        self.hnsw_threshold = hnsw_threshold

    def write(self, data: IndexData, folder: Path, *, current: dict | None = None,
              change: Change | None = None) -> _Written:
        backend = FaissBackend.build(data, index_type=self.index_type, hnsw_threshold=self.hnsw_threshold)
        backend.save(folder)
        return _Written({**backend.describe(), "spaces": sorted(data.vectors)})

    def open(self, folder: Path, description: dict, passages: list[Passage]) -> FaissBackend:
        return FaissBackend.load(folder, passages, description["spaces"])

    def discard(self, description: dict, *, keep: dict) -> None:
        pass

    def recover(self, description: dict | None, *, commit: bool) -> None:
        """Nothing to complete or undo: a build's files are its folder, which build.py keeps or deletes."""
