"""BM25 as sparse vectors, so a vector database ranks passages exactly as bm25s does.

bm25s scores a passage d for query tokens q with Lucene's BM25:

    score(d, q) = sum over q's tokens t (a repeated token counts again) of
                  idf(t) * tf(t, d) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl)),
    idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5)),  k1 = 1.5, b = 0.75.

That is a dot product: each passage stores the tf part of each of its terms (`passage_weights`),
and the query carries idf(t) times its count (`query_weights`). Only the query side depends on
N and df, which this table keeps, so adding or removing documents leaves every stored weight
valid except for avgdl.

avgdl drift: the stored weights are computed with the avgdl of the build that wrote the
generation (`LexicalTable.avgdl`, frozen). Incremental adds and removes change the true mean
length (`actual_avgdl`); scores then differ from bm25s's by a relative amount of about
0.45 * drift for a passage of average length. `drift()` measures it, and the Milvus store writes
a whole new generation (exact again) once it passes `milvus_avgdl_tolerance`; a full
`assistant index` is always exact. IDF, N and df are exact after every update.

Term dimensions are integers handed out by this table, stable for the life of a generation (a
removed term keeps its number, so a stored weight never changes meaning); 0 marks a passage with
no tokens (a sparse vector may not be empty) and no query ever uses it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

K1 = 1.5
B = 0.75
EMPTY_DIMENSION = 0
"""The one dimension of a passage without tokens; never in a query, so it never scores."""


def document_digests(doc_ids: Sequence[str], keys: Sequence[str], tokens: Sequence[Sequence[str]]) -> dict[str, str]:
    """Per document, a digest of its passages' keys and tokens: an update can tell which
    documents changed besides those it was told about."""
    hashes: dict[str, hashlib._Hash] = {}
    for doc_id, key, words in zip(doc_ids, keys, tokens, strict=True):
        digest = hashes.setdefault(doc_id, hashlib.sha256())
        digest.update(key.encode("utf-8") + b"\x1e" + "\x1f".join(words).encode("utf-8") + b"\x1d")
    return {doc_id: digest.hexdigest()[:32] for doc_id, digest in hashes.items()}


@dataclass
class LexicalTable:
    """The project's document-frequency table: term -> (dimension, df), N, total length, the
    frozen avgdl of the stored weights, and a digest per document."""

    avgdl: float
    documents: int
    total_length: int
    terms: dict[str, tuple[int, int]]
    next_dimension: int
    digests: dict[str, str] = field(default_factory=dict)
    k1: float = K1
    b: float = B

    @classmethod
    def build(cls, tokens: Sequence[Sequence[str]], digests: dict[str, str],
              previous: LexicalTable | None = None) -> LexicalTable:
        """The table of a corpus. With `previous` (the table of the generation being updated),
        every term keeps its dimension and its avgdl stays frozen; without, dimensions are dealt
        afresh and avgdl is the corpus's own."""
        df: Counter[str] = Counter()
        for words in tokens:
            df.update(set(words))
        total = sum(len(words) for words in tokens)
        actual = total / len(tokens) if tokens else 0.0
        if previous is None:
            terms = {term: (number, df[term]) for number, term in enumerate(sorted(df), start=1)}
            return cls(actual or 1.0, len(tokens), total, terms, len(terms) + 1, dict(digests))
        terms = {term: (number, df.get(term, 0)) for term, (number, _) in previous.terms.items()}
        next_dimension = previous.next_dimension
        for term in sorted(set(df) - set(terms)):
            terms[term] = (next_dimension, df[term])
            next_dimension += 1
        return cls(previous.avgdl, len(tokens), total, terms, next_dimension, dict(digests), previous.k1, previous.b)

    @property
    def actual_avgdl(self) -> float:
        """The mean passage length of the corpus the table describes (bm25s's avgdl)."""
        return self.total_length / self.documents if self.documents else 0.0

    def drift(self) -> float:
        """How far the true avgdl has moved from the one the stored weights use, relative."""
        return abs(self.actual_avgdl - self.avgdl) / self.avgdl

    def passage_weights(self, tokens: Sequence[str]) -> dict[int, float]:
        """What a passage stores: the tf part of each of its terms, with the frozen avgdl."""
        if not tokens:
            return {EMPTY_DIMENSION: 1.0}
        norm = self.k1 * (1 - self.b + self.b * len(tokens) / self.avgdl)
        return {self.terms[term][0]: tf / (tf + norm) for term, tf in Counter(tokens).items()}

    def idf(self, term: str) -> float:
        """Lucene's idf of a term present in the corpus."""
        df = self.terms[term][1]
        return math.log(1 + (self.documents - df + 0.5) / (df + 0.5))

    def query_weights(self, tokens: Iterable[str]) -> dict[int, float]:
        """What a query sends: idf(t) times the count of t, for the terms some passage has."""
        weights: dict[int, float] = {}
        for term, count in Counter(tokens).items():
            entry = self.terms.get(term)
            if entry is not None and entry[1] > 0:
                weights[entry[0]] = self.idf(term) * count
        return weights

    def save(self, path: Path) -> None:
        """Written into the build folder, beside the passages it describes."""
        path.write_text(json.dumps({
            "k1": self.k1, "b": self.b, "avgdl": self.avgdl, "documents": self.documents,
            "total_length": self.total_length, "next_dimension": self.next_dimension,
            "digests": self.digests, "terms": self.terms,
        }, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> LexicalTable:
        """The table of a build, as `save` wrote it."""
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(float(data["avgdl"]), int(data["documents"]), int(data["total_length"]),
                   {term: (int(number), int(df)) for term, (number, df) in data["terms"].items()},
                   int(data["next_dimension"]), dict(data["digests"]), float(data["k1"]), float(data["b"]))
