"""The FAISS + bm25s backend: BM25 held against a reference formula, dense search against numpy,
and filters applied inside the search."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from assistant.ingest.chunking import Passage
from assistant.store.backends import FaissBackend, IndexData, LexicalIndex
from assistant.text.tokens import tokenize

TEXTS = {
    "alpha": ["friendly cabinets for sex workers", "police raids and fines", "sex workers and police"],
    "beta": ["trafficking law signed in 2024", "friendly cabinets offer condoms"],
    "gamma": ["hello there"],
}


def reference_bm25(corpus: list[list[str]], query: list[str], k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """Lucene's BM25, written out: idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
    tf part = tf / (tf + k1 (1 - b + b |d| / avgdl)); a repeated query term counts again."""
    n, avgdl = len(corpus), sum(map(len, corpus)) / len(corpus)
    df = Counter(term for doc in corpus for term in set(doc))
    scores = np.zeros(n)
    for term in query:
        if term not in df:
            continue
        idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
        for row, doc in enumerate(corpus):
            tf = doc.count(term)
            scores[row] += idf * tf / (tf + k1 * (1 - b + b * len(doc) / avgdl))
    return scores


@pytest.fixture(scope="module")
def data() -> IndexData:
    passages, first = [], 0
    for doc_id, texts in TEXTS.items():
        for text in texts:
            passages.append(Passage(len(passages), doc_id, None, 0, len(text), text, ((0, len(text)),)))
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(len(passages), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return IndexData(passages=passages, tokens=[tokenize(p.text) for p in passages],
                     vectors={"english": {"passage": vectors, "sentence": vectors.copy()}})


@pytest.fixture(scope="module")
def backend(data) -> FaissBackend:
    return FaissBackend.build(data, index_type="flat", hnsw_threshold=10**9)


@pytest.mark.parametrize("question", ["friendly cabinets", "sex workers police police", "law 2024 condoms", "zebra"])
def test_bm25_scores_equal_the_reference_formula(data, question):
    lexical = LexicalIndex.build(data.tokens)
    query = tokenize(question)
    np.testing.assert_allclose(lexical.scores(query), reference_bm25(data.tokens, query), rtol=1e-5, atol=1e-6)


def test_lexical_search_drops_passages_that_share_no_word():
    lexical = LexicalIndex.build([tokenize("friendly cabinets for sex workers"), tokenize("trafficking law"), tokenize("hello")])
    hits = lexical.search(tokenize("friendly cabinets"), k=3)
    assert [h.passage for h in hits] == [0]
    assert lexical.search(tokenize("zebra"), k=3) == []
    assert lexical.document_count() == 3


def test_dense_search_equals_exact_inner_products(backend, data):
    query = data.vectors["english"]["passage"][2] * 0.7 + data.vectors["english"]["passage"][4] * 0.3
    expected = np.argsort(-(data.vectors["english"]["passage"] @ query), kind="stable")[:4]
    hits = backend.search_dense("english", "passage", query, 4)
    assert [h.passage for h in hits] == list(expected)
    assert [h.score for h in hits] == pytest.approx(list((data.vectors["english"]["passage"] @ query)[expected]), abs=1e-6)


def test_filters_apply_inside_the_search_not_after_the_top_k(backend, data):
    query = data.vectors["english"]["passage"][0]  # alpha's own vector: alpha ranks first unfiltered
    only_beta = backend.search_dense("english", "passage", query, 2, doc_ids={"beta"})
    assert [data.passages[h.passage].doc_id for h in only_beta] == ["beta", "beta"]
    assert backend.search_dense("english", "sentence", query, 5, doc_ids={"gamma"}) == \
           [h for h in backend.search_dense("english", "sentence", query, 6) if data.passages[h.passage].doc_id == "gamma"]
    lexical = backend.search_lexical(tokenize("friendly cabinets"), 5, doc_ids={"beta"})
    assert [data.passages[h.passage].doc_id for h in lexical] == ["beta"]
    assert backend.search_dense("english", "passage", query, 3, doc_ids=set()) == []
    assert backend.search_lexical(tokenize("friendly"), 3, doc_ids={"nope"}) == []


def test_verify_names_what_does_not_match(backend, data):
    assert backend.verify(len(data.passages), len(data.passages)) == []
    assert backend.verify(len(data.passages) + 1, len(data.passages))
