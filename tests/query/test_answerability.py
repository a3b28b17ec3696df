"""The answerability model: its file, its features, retraining it, the refusals it makes and the
partial answers, and the evidence floor without it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import REPO

from assistant.errors import AssistantError
from assistant.evaluate.gold import load_gold, select
from assistant.evaluate.train_answerability import threshold_for, train
from assistant.query.answerability import FEATURES, AnswerabilityModel, compute, load_answerability
from assistant.query.assistant import Assistant
from assistant.query.factory import answer_stages
from assistant.settings import Settings

PENALTY = "what is the penalty for pimping under the new law"


def with_model(assistant: Assistant, model: AnswerabilityModel | None) -> Assistant:
    """Another assistant over the same index whose answerability model is `model`."""
    other = Assistant(assistant.index, assistant.embedders, assistant.settings)
    other.__dict__["answerability"] = model
    return other


def test_retraining_on_dev_reproduces_the_shipped_model(assistant):
    shipped = AnswerabilityModel.load(Settings().answerability_file)
    model, _ = train(assistant, select(load_gold(REPO / "eval" / "gold.jsonl"), split="dev"))
    assert model.features == shipped.features == FEATURES
    assert model.trained["C"] == shipped.trained["C"] and model.trained["class_weight"] == shipped.trained["class_weight"]
    np.testing.assert_allclose(model.weights, shipped.weights, atol=2e-3)
    assert model.intercept == pytest.approx(shipped.intercept, abs=2e-3)
    assert model.threshold == pytest.approx(shipped.threshold, abs=2e-3)
    assert shipped.trained["split"] == "dev" and shipped.trained["cross_validation"]["grouped_by"] == "question"
    # The threshold refuses at most the stated share of answerable dev questions in every language,
    # or one where that share is less than one question.
    for point in shipped.trained["cross_validation"]["by_language"].values():
        allowed = max(1, int(shipped.trained["false_abstention_target"] * point["answerable"]))
        assert point["refused_answerable"] <= allowed


def test_the_threshold_keeps_every_language_within_the_false_abstention_rate():
    chances = np.array([0.1, 0.2, 0.3, 0.9, 0.35, 0.6, 0.7, 0.8, 0.04, 0.5, 0.55, 0.02])
    answerable = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0])
    languages = np.array(["en"] * 8 + ["kk"] * 4)
    english = languages == "en"
    assert threshold_for(chances[english], answerable[english], 0.25) == pytest.approx(0.3)  # two of eight
    assert threshold_for(chances, answerable, 0.25) == pytest.approx(0.2)  # two of eleven, whatever the language
    # Each language keeps to its share, the lowest threshold wins: English two of eight (0.3), Kazakh
    # none of three by 25% but one at least (0.5).
    assert threshold_for(chances, answerable, 0.25, languages) == pytest.approx(0.3)
    # At 10% English may refuse none of eight, but one at least: its second lowest chance.
    assert threshold_for(chances, answerable, 0.1, languages) == pytest.approx(0.2)
    assert threshold_for(chances, answerable, 0.1, np.where(english, "en", "ru")) == pytest.approx(0.2)


def test_a_broken_or_foreign_model_file_is_a_clear_error(tmp_path):
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(AssistantError, match="assistant.evaluate.train_answerability"):
        load_answerability(tmp_path / "broken.json")
    data = json.loads(Settings().answerability_file.read_text(encoding="utf-8"))
    data["features"] = data["features"][:-1]
    (tmp_path / "other.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(AssistantError, match="other features"):
        load_answerability(tmp_path / "other.json")
    assert load_answerability(tmp_path / "absent.json") is None


def test_the_answer_carries_the_models_chance_from_finite_features(assistant):
    found = assistant.retrieve(PENALTY, 5)
    values, missing = compute(found, assistant.calibration,
                              assistant.settings.part_search_depth,
                              assistant.coverage.places_named(found.question, found.language))
    assert values.shape == (len(FEATURES),) and np.isfinite(values).all()
    assert missing is not None and missing.name == "penalty"
    answer = assistant.ask(PENALTY, 5)
    assert answer.answerability == pytest.approx(assistant.answerability.chance(values), abs=1e-4)


def test_a_question_the_passages_answer_only_in_part_is_refused_naming_the_part(assistant):
    # The example: the 2024 law is found, and no passage names a penalty.
    answer = assistant.ask(PENALTY, 5)
    assert answer.abstained and answer.missing == "penalty"
    assert answer.abstain_reason == "the documents discuss this but give no penalty or prison term"
    assert answer.said_in("ru").abstain_reason == "в документах говорится об этом, но ни наказания, ни срока нет"
    assert answer.results  # the nearest passages are still listed, as such


def test_when_the_part_is_missing_but_the_subject_answers_the_answer_says_partly(assistant):
    lenient = with_model(assistant, dataclasses.replace(assistant.answerability, threshold=0.0))
    answer = lenient.ask(PENALTY, 5)
    assert not answer.abstained and answer.missing == "penalty"
    assert answer.missing_note == "Partly answered: the documents discuss this but give no penalty or prison term."
    assert answer.said_in("kk").missing_note == ("Жауап толық емес: құжаттарда бұл туралы айтылады, бірақ жаза да, "
                                                 "мерзім де көрсетілмеген.")
    # The evidence floor answers it too, and says the same.
    floor = Assistant(assistant.index, assistant.embedders, assistant.settings.model_copy(update={"abstention": "floor"}))
    assert floor.ask(PENALTY, 5).missing_note == answer.missing_note


@pytest.mark.parametrize("question", [
    "what changed in 2024",  # refused by the evidence floor before the model (the example)
    "When did Kazakhstan's new anti-trafficking law take effect?",
    "Полиция мені ұстай ала ма?",
])
def test_questions_the_documents_answer_are_not_refused(assistant, question):
    answer = assistant.ask(question, 5)
    assert not answer.abstained and answer.answerability is not None
    assert answer.answerability >= assistant.answerability.threshold


@pytest.mark.parametrize("question", [
    "how do i reverse a linked list in python?",
    "Бешбармақты қалай дайындайды?",
    "скока стоит час в сауне в алматы",
])
def test_questions_the_documents_do_not_answer_are_refused(assistant, question):
    answer = assistant.ask(question, 5)
    assert answer.abstained and answer.answerability < assistant.answerability.threshold


def test_without_the_file_or_the_ranker_the_evidence_floor_decides(assistant, settings, tmp_path):
    no_file = with_model(assistant, None)
    floor = Assistant(assistant.index, assistant.embedders, settings.model_copy(update={"abstention": "floor"}))
    for question in ("what changed in 2024", PENALTY, "how do I bake bread?"):
        mine, theirs = no_file.ask(question, 5), floor.ask(question, 5)
        assert (mine.abstained, mine.abstain_reason, mine.answerability) == (theirs.abstained, theirs.abstain_reason, None)
    assert [stage.name for stage in answer_stages(settings.model_copy(update={"ranker": "fusion"}))][0] == "abstain"
    assert [stage.name for stage in answer_stages(settings)][0] == "abstain (answerability model)"
