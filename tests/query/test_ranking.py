"""The learned ranker: its file, its features, retraining it, and the fallback without it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REPO

from assistant.errors import AssistantError
from assistant.evaluate.gold import load_gold, select
from assistant.evaluate.train_ranker import train
from assistant.query.assistant import Assistant
from assistant.query.ranking import FEATURES, LinearRanker, load_ranker, question_types
from assistant.settings import Settings


def test_retraining_on_dev_reproduces_the_shipped_weights(assistant, settings):
    shipped = LinearRanker.load(Settings().ranker_file)
    ranker, _ = train(assistant, select(load_gold(REPO / "eval" / "gold.jsonl"), split="dev"))
    assert ranker.features == shipped.features
    assert ranker.trained["C"] == shipped.trained["C"] and ranker.trained["class_weight"] == shipped.trained["class_weight"]
    np.testing.assert_allclose(ranker.weights, shipped.weights, atol=2e-3)
    np.testing.assert_allclose(ranker.sentences, shipped.sentences, atol=2e-3)
    assert ranker.intercept == pytest.approx(shipped.intercept, abs=2e-3)
    assert shipped.trained["split"] == "dev"


def test_without_the_file_the_pipeline_orders_by_fusion(index, embedders, settings, tmp_path):
    plain = Assistant(index, embedders, settings.model_copy(update={"ranker_file": tmp_path / "none.json"}))
    fusion = Assistant(index, embedders, settings.model_copy(update={"ranker": "fusion"}))
    question = "How many friendly cabinets offer HIV prevention services?"
    assert plain.ranker is None
    assert [r.text for r in plain.ask(question, 5).results] == [r.text for r in fusion.ask(question, 5).results]


def test_a_broken_or_foreign_ranker_file_is_a_clear_error(tmp_path):
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(AssistantError, match="assistant.evaluate.train_ranker"):
        load_ranker(tmp_path / "broken.json", {})
    data = json.loads(Settings().ranker_file.read_text(encoding="utf-8"))
    data["features"] = data["features"][:-1]
    (tmp_path / "other.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(AssistantError, match="other features"):
        load_ranker(tmp_path / "other.json", {})


def test_features_are_finite_and_the_ranker_orders_by_its_scores(assistant):
    found = assistant.retrieve("Where can a migrant without propiska get an HIV test?", 10)
    assert found.features is not None
    matrix = found.features.matrix
    assert matrix.shape == (len(found.features.rows), len(FEATURES)) and np.isfinite(matrix).all()
    chances = 1 / (1 + np.exp(-assistant.ranker.score(matrix)))
    best = int(found.features.rows[int(np.argmax(chances))])
    assert found.ranking[0].passage == best or found.time.differ


@pytest.mark.parametrize(
    ("question", "wants"),
    [("How many friendly cabinets are there?", "number"), ("Сколько клиентов?", "number"), ("Қанша?", "number"),
     ("When did the law take effect?", "when"), ("Когда вступил в силу закон?", "when"),
     ("Who signed the law?", "who"), ("Кто подписал закон?", "who")],
)
def test_question_types_in_three_languages(question, wants):
    assert question_types(question)[wants]


def test_the_highlight_is_the_sentence_the_ranker_prefers(assistant):
    answer = assistant.ask("How many friendly cabinets are there in the country?", 3)
    hit = next(r for r in answer.results if "33 friendly cabinets" in r.text)
    assert "33 friendly cabinets" in hit.text[hit.highlight.start : hit.highlight.end]
