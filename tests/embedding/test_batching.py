"""The question encoder of `Assistant.ask`: LRU cache and micro-batching, with the real model."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from assistant.embedding import ENGLISH, MULTILINGUAL
from assistant.embedding.batching import QuestionEncoder
from assistant.query.assistant import Assistant
from assistant.settings import Settings

SETTINGS = Settings()

QUESTIONS = [
    "Is sex work legal in Kazakhstan?",
    "Where can a migrant without propiska get an HIV test?",
    "When did the 2024 anti-trafficking law take effect?",
    "How many friendly cabinets offer HIV prevention services?",
    "What penalties does the trafficking law set?",
    "Who runs outreach for sex workers in Almaty?",
    "Is pimping a crime?",
    "What does the Global Fund pay for?",
    "are condoms handed out for free",
    "what is the article on brothels",
    "can police detain sex workers",
    "how old must a person be to consent",
]


class CountingEmbedder:
    """The real embedder, with a record of each call it gets (a spy, not a mock)."""

    def __init__(self, embedder, fail_on: str | None = None):
        self.embedder = embedder
        self.calls: list[list[str]] = []
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def encode_queries(self, texts):
        with self._lock:
            self.calls.append(list(texts))
        if self.fail_on in texts:
            raise RuntimeError("the model failed")
        return self.embedder.encode_queries(texts)


def test_single_question_is_exactly_the_embedder_vector(embedder):
    encoder = QuestionEncoder.from_settings(embedder, SETTINGS)
    for question in QUESTIONS[:3]:
        assert np.array_equal(encoder.encode(question), embedder.encode_queries([question])[0])


def test_a_repeated_question_comes_from_the_cache(embedder):
    spy = CountingEmbedder(embedder)
    encoder = QuestionEncoder.from_settings(spy, SETTINGS, cache_size=8)
    first = encoder.encode(QUESTIONS[0])
    again = encoder.encode(QUESTIONS[0])
    assert np.array_equal(first, again)
    assert len(spy.calls) == 1
    assert encoder.stats()["hits"] == 1 and encoder.stats()["misses"] == 1
    # Each caller gets its own array: changing it does not change the cache.
    again[:] = 0
    assert np.array_equal(encoder.encode(QUESTIONS[0]), first)


def test_the_cache_keeps_the_most_recently_used(embedder):
    spy = CountingEmbedder(embedder)
    encoder = QuestionEncoder.from_settings(spy, SETTINGS, cache_size=2, window_ms=0)
    a, b, c = QUESTIONS[:3]
    encoder.encode(a)
    encoder.encode(b)
    encoder.encode(a)  # a is now the most recent; b goes first
    encoder.encode(c)
    assert encoder.stats()["cached"] == 2
    calls = len(spy.calls)
    encoder.encode(a)
    assert len(spy.calls) == calls  # still cached
    encoder.encode(b)
    assert len(spy.calls) == calls + 1  # evicted, encoded again


def test_the_cache_does_not_keep_question_text(embedder):
    encoder = QuestionEncoder.from_settings(embedder, SETTINGS)
    encoder.encode(QUESTIONS[1])
    assert all(isinstance(key, bytes) and QUESTIONS[1].encode() not in key for key in encoder._cache)


def test_cache_size_zero_turns_the_cache_off(embedder):
    spy = CountingEmbedder(embedder)
    encoder = QuestionEncoder.from_settings(spy, SETTINGS, cache_size=0)
    encoder.encode(QUESTIONS[0])
    encoder.encode(QUESTIONS[0])
    assert len(spy.calls) == 2 and encoder.stats()["cached"] == 0


def _concurrently(encoder, questions):
    start = threading.Barrier(len(questions))

    def one(question):
        start.wait()
        return encoder.encode(question)

    with ThreadPoolExecutor(len(questions)) as pool:
        return list(pool.map(one, questions))


def test_concurrent_questions_share_encoder_calls(embedder):
    spy = CountingEmbedder(embedder)
    encoder = QuestionEncoder.from_settings(spy, SETTINGS, cache_size=0, window_ms=50, max_batch=8)
    vectors = _concurrently(encoder, QUESTIONS)
    assert sum(len(call) for call in spy.calls) == len(QUESTIONS)
    assert len(spy.calls) < len(QUESTIONS), spy.calls  # some questions were batched together
    assert max(len(call) for call in spy.calls) <= 8
    for question, vector in zip(QUESTIONS, vectors):
        alone = embedder.encode_queries([question])[0]
        assert vector.dtype == np.float32 and vector.shape == alone.shape
        # Padding to the longest question of a batch changes float rounding only.
        assert float(vector @ alone) > 0.99999
        np.testing.assert_allclose(vector, alone, atol=1e-5)


def test_the_same_question_at_the_same_moment_is_encoded_once(embedder):
    spy = CountingEmbedder(embedder)
    encoder = QuestionEncoder.from_settings(spy, SETTINGS, cache_size=0, window_ms=50)
    vectors = _concurrently(encoder, [QUESTIONS[0]] * 8)
    assert sum(call.count(QUESTIONS[0]) for call in spy.calls) < 8
    assert all(np.array_equal(vectors[0], vector) for vector in vectors)


def test_batching_off_encodes_each_question_alone(embedder):
    spy = CountingEmbedder(embedder)
    encoder = QuestionEncoder.from_settings(spy, SETTINGS, cache_size=0, window_ms=0)
    _concurrently(encoder, QUESTIONS[:6])
    assert len(spy.calls) == 6 and all(len(call) == 1 for call in spy.calls)


def test_a_model_error_reaches_every_waiting_caller_and_is_not_cached(embedder):
    spy = CountingEmbedder(embedder, fail_on=QUESTIONS[0])
    encoder = QuestionEncoder.from_settings(spy, SETTINGS, window_ms=50)
    outcomes = []

    def one(question):
        try:
            encoder.encode(question)
            outcomes.append("ok")
        except RuntimeError:
            outcomes.append("error")

    threads = [threading.Thread(target=one, args=(QUESTIONS[0],)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes == ["error"] * 4
    assert encoder.stats()["cached"] == 0 and not encoder._inflight
    spy.fail_on = None
    assert np.array_equal(encoder.encode(QUESTIONS[0]), embedder.encode_queries([QUESTIONS[0]])[0])


def test_invalid_settings_are_refused(embedder):
    with pytest.raises(ValueError):
        QuestionEncoder.from_settings(embedder, SETTINGS, max_batch=0)
    with pytest.raises(ValueError):
        QuestionEncoder.from_settings(embedder, SETTINGS, window_ms=-1)


def _gold_questions(settings, n):
    lines = settings.gold_file.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()][:n]


def test_ask_answers_the_same_with_and_without_cache_and_batching(index, embedders, settings):
    """Every question is encoded in the multilingual space (with its latent terms, from the same pass)."""
    questions = _gold_questions(settings, 24)
    e5 = embedders[MULTILINGUAL]
    plain = Assistant(index, embedders, settings)
    plain._encoders[MULTILINGUAL] = QuestionEncoder.from_settings(e5, SETTINGS, cache_size=0, window_ms=0)
    expected = [plain.ask(question, 5).model_dump() for question in questions]

    levers = Assistant(index, embedders, settings)
    levers._encoders[MULTILINGUAL] = QuestionEncoder.from_settings(e5, SETTINGS, cache_size=64, window_ms=20, max_batch=8)
    with ThreadPoolExecutor(8) as pool:  # concurrent: batched
        batched = list(pool.map(lambda q: levers.ask(q, 5).model_dump(), questions))
    cached = [levers.ask(question, 5).model_dump() for question in questions]  # all from the cache now
    assert levers.question_encoder(MULTILINGUAL).stats()["hits"] >= len(questions)
    assert levers.question_encoder(MULTILINGUAL).latent_terms

    def ranking(answer):
        return [(r["citation"]["doc_id"], r["citation"]["start"], r["highlight"]) for r in answer["results"]]

    assert [ranking(a) for a in cached] == [ranking(a) for a in batched] == [ranking(a) for a in expected]
    for got, want in zip(cached, expected):
        assert got["abstained"] == want["abstained"]
        assert [r["score"] for r in got["results"]] == pytest.approx([r["score"] for r in want["results"]], abs=1e-4)


def test_the_assistant_makes_its_encoder_from_settings_and_remakes_it_for_a_new_model(index, embedder, embedders, settings):
    assistant = Assistant(index, dict(embedders), settings)
    encoder = assistant.question_encoder(ENGLISH)
    assert assistant.question_encoder(ENGLISH) is encoder
    assert encoder.cache_size == settings.question_cache_size
    assistant.embedders[ENGLISH] = CountingEmbedder(embedder)
    assert assistant.question_encoder(ENGLISH) is not encoder
