"""The calibration of scores across models and languages: recorded with the index, and a model it
was not measured with is named in a warning instead of silently mis-abstaining."""

from __future__ import annotations

import json
import logging

import pytest

from assistant.embedding.calibration import Calibration, SpaceCalibration
from assistant.errors import AssistantError
from assistant.query.assistant import Assistant
from assistant.settings import Settings


def test_the_index_manifest_records_the_calibration_of_its_models(index):
    recorded = index.manifest["calibration"]
    shipped = Calibration.load(Settings().calibration_file)
    for space, model in index.manifest["models"].items():
        assert recorded["spaces"][space]["fingerprint"] == model["fingerprint"] == shipped.spaces[space].fingerprint[:16]
        assert recorded["spaces"][space]["scale"] == shipped.spaces[space].scale
    assert recorded["abstain_min_evidence"] == shipped.abstain_min_evidence
    assert {"en", "ru", "kk"} <= set(recorded["abstain_min_evidence"])


def test_a_model_the_calibration_does_not_know_gets_a_warning_and_the_identity_map():
    calibration = Calibration({"english": SpaceCalibration("minilm", "a" * 64, 1.0, 0.0),
                               "multilingual": SpaceCalibration("e5", "b" * 64, 5.0, -4.0)}, {"en": 0.3, "ru": 0.2})
    known, warnings = calibration.for_models({"english": {"name": "minilm", "fingerprint": "a" * 16},
                                              "multilingual": {"name": "e5", "fingerprint": "b" * 16}})
    assert warnings == [] and known.cosine("multilingual", 0.8) == pytest.approx(0.0)
    other, warnings = calibration.for_models({"english": {"name": "minilm", "fingerprint": "a" * 16},
                                              "multilingual": {"name": "another-model", "fingerprint": "c" * 16}})
    assert len(warnings) == 1 and "another-model" in warnings[0] and "eval/calibrate.py" in warnings[0]
    assert other.cosine("multilingual", 0.8) == 0.8
    assert other.threshold("ru") == 0.2 and other.threshold("xx") == 0.0


def test_the_assistant_warns_once_when_its_index_was_built_with_an_uncalibrated_model(index, embedders, settings,
                                                                                         tmp_path, caplog):
    data = json.loads(settings.calibration_file.read_text(encoding="utf-8"))
    data["spaces"]["multilingual"]["fingerprint"] = "0" * 64
    (tmp_path / "calibration.json").write_text(json.dumps(data), encoding="utf-8")
    assistant = Assistant(index, embedders, settings.model_copy(update={"calibration_file": tmp_path / "calibration.json"}))
    with caplog.at_level(logging.WARNING):
        assistant.ask("Кто подписал закон?", 1)
        assistant.ask("Кто подписал закон?", 1)
    warned = [r for r in caplog.records if "was not calibrated" in r.getMessage()]
    assert len(warned) == 1 and "multilingual" in warned[0].getMessage()


def test_a_broken_calibration_file_says_what_to_do(tmp_path):
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(AssistantError, match="eval/calibrate.py"):
        Calibration.load(tmp_path / "broken.json")
