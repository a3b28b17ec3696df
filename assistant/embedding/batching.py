"""Question embeddings for `Assistant.ask`: an LRU cache, and micro-batching of concurrent questions.

One MiniLM forward pass per new question is most of what answering costs on a 2-core machine
(about 20 ms on one torch thread; everything else in `ask` takes about 3 ms). Two levers:

- an LRU cache of question vectors: a question asked before costs a dictionary lookup. The key is
  a hash of the question, so the cache does not keep question text (questions are sensitive and
  not stored unless the operator turns that on); the vectors live in memory only.
- micro-batching: questions that arrive while the model is already busy wait up to
  `question_batch_window_ms` for each other and are encoded in one call (per question a batch of 8
  costs less than half of a call each). A question that arrives while the model is idle is
  encoded at once, so a lone user never waits for the window. The same question asked twice at
  the same moment is encoded once.

Settings (`ASSISTANT_*`): `question_cache_size` (0 turns the cache off), `question_batch_window_ms`
(0 turns batching off), `question_batch_max`.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from assistant.embedding.sparse import SparseVector, gives_sparse

_Encoded = tuple[np.ndarray, SparseVector | None]


class _Batch:
    __slots__ = ("full", "futures", "keys", "questions")

    def __init__(self) -> None:
        self.keys: list[bytes] = []
        self.questions: list[str] = []
        self.futures: list[Future] = []
        self.full = threading.Event()


class QuestionEncoder:
    """`encode(question)` -> the question's normalized float32 vector (a fresh array each call),
    exactly what `embedder.encode_queries([question])[0]` returns, up to float rounding when batched.
    With `latent_terms`, the same pass also gives the question's latent terms (`encode_with_terms`)."""

    def __init__(self, embedder, *, cache_size: int, window_ms: float, max_batch: int, model_threads: int,
                 latent_terms: bool = False):
        if cache_size < 0 or window_ms < 0 or max_batch < 1 or model_threads < 1:
            raise ValueError("cache_size and window_ms must be >= 0, max_batch and model_threads >= 1")
        self.embedder = embedder
        self.latent_terms = latent_terms
        self.cache_size = cache_size
        self.window = window_ms / 1000.0
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._cache: OrderedDict[bytes, _Encoded] = OrderedDict()
        self._inflight: dict[bytes, Future] = {}
        self._open: _Batch | None = None
        self._busy = 0  # encoder calls running now
        self.hits = self.misses = self.batches = self.encoded = 0
        # The model runs on these few threads only, never on whichever request thread leads a
        # batch: torch keeps per-thread buffers, and spreading them over a server's whole thread
        # pool made memory creep up with every new question under load.
        self._model_threads = ThreadPoolExecutor(max_workers=model_threads, thread_name_prefix="question-encoder")

    @classmethod
    def from_settings(cls, embedder, settings, **overrides) -> QuestionEncoder:
        """An encoder configured by `settings` (the one place defaults live); `overrides` replace
        single constructor arguments (tests and benchmarks)."""
        options = {"cache_size": settings.question_cache_size, "window_ms": settings.question_batch_window_ms,
                   "max_batch": settings.question_batch_max, "model_threads": settings.question_encoder_threads,
                   "latent_terms": settings.latent_terms and gives_sparse(embedder)}
        return cls(embedder, **{**options, **overrides})

    @staticmethod
    def _key(question: str) -> bytes:
        return hashlib.blake2b(question.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def encode(self, question: str) -> np.ndarray:
        return self.encode_with_terms(question)[0]

    def encode_with_terms(self, question: str) -> tuple[np.ndarray, SparseVector | None]:
        """The question's vector (a fresh array) and its latent terms (None without `latent_terms`)."""
        key = self._key(question)
        lead = None
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.hits += 1
                return cached[0].copy(), cached[1]
            self.misses += 1
            future = self._inflight.get(key)
            if future is None:
                future = Future()
                self._inflight[key] = future
                batch = self._open if self.window > 0 else None
                if batch is None:
                    batch = lead = _Batch()
                    # Batch only while the model is busy: an idle model encodes at once.
                    if self.window > 0 and self.max_batch > 1 and self._busy > 0:
                        self._open = batch
                batch.keys.append(key)
                batch.questions.append(question)
                batch.futures.append(future)
                if len(batch.questions) >= self.max_batch:
                    batch.full.set()
                    if self._open is batch:
                        self._open = None
        if lead is not None:
            self._run(lead)
        row, terms = future.result()
        return row.copy(), terms

    def _run(self, batch: _Batch) -> None:
        if self._open is batch:
            batch.full.wait(self.window)
        with self._lock:
            if self._open is batch:
                self._open = None
            self._busy += 1
            self.batches += 1
            self.encoded += len(batch.questions)
        try:
            if self.latent_terms:
                encoded = self._model_threads.submit(self.embedder.encode_queries_with_sparse, batch.questions).result()
                vectors, terms = encoded.dense, encoded.sparse
            else:
                vectors = self._model_threads.submit(self.embedder.encode_queries, batch.questions).result()
                terms = [None] * len(batch.questions)
        except BaseException as error:
            with self._lock:
                self._busy -= 1
                for key in batch.keys:
                    self._inflight.pop(key, None)
            for future in batch.futures:
                future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        results: list[_Encoded] = [(np.array(row, dtype=np.float32), found) for row, found in zip(vectors, terms, strict=True)]
        for row, _ in results:
            row.setflags(write=False)
        with self._lock:
            self._busy -= 1
            for key, result in zip(batch.keys, results, strict=True):
                self._inflight.pop(key, None)
                if self.cache_size:
                    self._cache[key] = result
                    self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        for future, result in zip(batch.futures, results, strict=True):
            future.set_result(result)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self.hits = self.misses = self.batches = self.encoded = 0

    def stats(self) -> dict:
        with self._lock:
            return {"cached": len(self._cache), "hits": self.hits, "misses": self.misses,
                    "batches": self.batches, "encoded": self.encoded}
