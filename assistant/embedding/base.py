"""What every embedder is: a protocol, plus the batching and progress loop they share."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from assistant.embedding.sparse import Encoded
from assistant.progress import encoding_step, report

# Set before sentence-transformers, transformers or tokenizers are imported anywhere (the switches
# that keep them off the network are assistant.offline's, set when the package is imported).
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


@runtime_checkable
class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors, so an inner product is a cosine.

    Questions and passages may be encoded differently (e5 prefixes "query: " and "passage: ");
    a symmetric model such as MiniLM encodes both alike."""

    @property
    def name(self) -> str:
        """A readable model name, e.g. "all-MiniLM-L6-v2"."""
        ...

    @property
    def fingerprint(self) -> str:
        """Changes whenever the vectors could change (weights, configuration); an index records it."""
        ...

    @property
    def dimension(self) -> int: ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """One row per question."""
        ...

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False, description: str = "passages") -> np.ndarray:
        """One row per passage or sentence; `progress` shows a bar on stderr."""
        ...


class EmbedderWrapper:
    """An `Embedder` that hands everything to `inner`: the base of embedders that change one thing
    (where passage vectors come from, what is recorded) and keep the model's identity."""

    def __init__(self, inner: Embedder):
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def query_runtime(self) -> str:
        return query_runtime(self.inner)

    @property
    def sparse_dimension(self) -> int:
        """The latent terms' dimension of what it wraps (0: none; `sparse.gives_sparse`)."""
        return int(getattr(self.inner, "sparse_dimension", 0))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.encode_queries(texts)

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False, description: str = "passages") -> np.ndarray:
        return self.inner.encode_passages(texts, progress=progress, description=description)

    def encode_queries_with_sparse(self, texts: Sequence[str]) -> Encoded:
        return self.inner.encode_queries_with_sparse(texts)  # type: ignore[attr-defined]

    def encode_passages_with_sparse(self, texts: Sequence[str], *, progress: bool = False,
                                    description: str = "passages") -> Encoded:
        return self.inner.encode_passages_with_sparse(texts, progress=progress,  # type: ignore[attr-defined]
                                                      description=description)


class SplitEmbedder(EmbedderWrapper):
    """Questions encoded by one embedder and passages by another, both of the same model (e.g.
    questions on ONNX Runtime, passages with sentence-transformers): the index cannot tell."""

    def __init__(self, queries: Embedder, passages: Embedder):
        if queries.fingerprint != passages.fingerprint:
            raise ValueError("a SplitEmbedder needs two runtimes of one model (their fingerprints differ)")
        super().__init__(queries)
        self.passages = passages

    @property
    def queries(self) -> Embedder:
        return self.inner

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False, description: str = "passages") -> np.ndarray:
        return self.passages.encode_passages(texts, progress=progress, description=description)

    def encode_passages_with_sparse(self, texts: Sequence[str], *, progress: bool = False,
                                    description: str = "passages") -> Encoded:
        return self.passages.encode_passages_with_sparse(texts, progress=progress,  # type: ignore[attr-defined]
                                                         description=description)


def query_runtime(embedder: Embedder) -> str:
    """What encodes an embedder's questions ("torch", "onnx", "onnx-int8"); "torch" when it does
    not say (the safe guess for `use_query_threads`)."""
    return str(getattr(embedder, "query_runtime", "torch"))


def encode_in_batches(encode: Callable[[list[str]], np.ndarray], texts: Sequence[str], *, dimension: int,
                      batch_size: int, progress: bool, description: str) -> np.ndarray:
    """`encode` over `texts` in batches, longest first (a batch then pads little), with a tqdm bar
    when `progress` is set; rows come back in the order of `texts`."""
    vectors = np.empty((len(texts), dimension), dtype=np.float32)
    if not texts:
        return vectors
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(texts), desc=description, unit="text")
    step = encoding_step(description)
    report(step, 0, len(texts))
    try:
        for first in range(0, len(texts), batch_size):
            rows = order[first : first + batch_size]
            vectors[rows] = encode([texts[i] for i in rows])
            if bar is not None:
                bar.update(len(rows))
            report(step, min(first + batch_size, len(texts)), len(texts))
    finally:
        if bar is not None:
            bar.close()
    return vectors


def normalized(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as contiguous float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)
