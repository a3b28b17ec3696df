"""Scores of different models and languages put on one footing, as measured on the dev split.

- Each vector space's cosine similarity is mapped onto the English model's scale by an affine map
  fitted by least squares over the same question-passage pairs (multilingual-e5's cosines sit in
  a narrow band around 0.8, MiniLM's spread from 0.1 to 0.8), so a dense score of either space
  fuses with BM25 alike and one evidence scale serves every question.
- The evidence below which an answer is refused, per question language: a Russian or Kazakh
  question matched through the multilingual model scores differently from an English one.

The numbers come from `python eval/calibrate.py` (dev split only) and live in
`assistant/calibration.json` with the fingerprints of the models they were measured with. An
index records the calibration of its models in its manifest; a model that was not calibrated
(another `ASSISTANT_MODEL_PATH`) gets the identity map and a warning, instead of silently
mis-abstaining.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.errors import AssistantError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpaceCalibration:
    """calibrated = scale * cosine + shift, for the model with this fingerprint."""

    name: str
    fingerprint: str
    scale: float = 1.0
    shift: float = 0.0


@dataclass(frozen=True)
class Calibration:
    spaces: dict[str, SpaceCalibration] = field(default_factory=dict)
    abstain_min_evidence: dict[str, float] = field(default_factory=dict)
    """Per question language ("en", "ru", "kk"); "default" for any other."""
    measured: str = ""
    """How and when it was measured (the command, the split, the date)."""

    @classmethod
    def load(cls, path: Path) -> Calibration:
        """The calibration file; a missing or broken one is an error that says what to do."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            spaces = {space: SpaceCalibration(**values) for space, values in data["spaces"].items()}
            thresholds = {lang: float(value) for lang, value in data["abstain_min_evidence"].items()}
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise AssistantError(f"the calibration file {path} is unreadable ({error}): restore it from the repository "
                                 "or run `python eval/calibrate.py`") from None
        return cls(spaces, thresholds, str(data.get("measured", "")))

    def save(self, path: Path) -> None:
        data = {"measured": self.measured,
                "spaces": {space: vars(values) for space, values in self.spaces.items()},
                "abstain_min_evidence": self.abstain_min_evidence}
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def for_models(self, models: dict[str, dict]) -> tuple[Calibration, list[str]]:
        """This calibration restricted to the spaces whose model it was measured with (`models`:
        space -> {"name", "fingerprint"}, as an index manifest records them), and a warning for
        each model it does not know, which then gets the identity map."""
        kept, warnings = {}, []
        for space, model in models.items():
            known = self.spaces.get(space)
            if known is not None and model.get("fingerprint", "")[:16] == known.fingerprint[:16]:
                kept[space] = known
            else:
                kept[space] = SpaceCalibration(model.get("name", space), model.get("fingerprint", ""))
                warnings.append(f"the {space} model {model.get('name')} was not calibrated (calibration.json knows "
                                f"{known.name if known else 'no model'} for it): abstention may be off; "
                                "run `python eval/calibrate.py`")
        return Calibration(kept, self.abstain_min_evidence, self.measured), warnings

    def cosine(self, space: str, values: np.ndarray | float) -> np.ndarray | float:
        """Cosine similarities of `space` on the English model's scale."""
        found = self.spaces.get(space)
        return values if found is None else values * found.scale + found.shift

    def threshold(self, language: str) -> float:
        """The least evidence an answer to a question in `language` needs."""
        return self.abstain_min_evidence.get(language, self.abstain_min_evidence.get("default", 0.0))

    def describe(self) -> dict:
        """What an index manifest records of it."""
        return {"measured": self.measured,
                "spaces": {space: {"fingerprint": values.fingerprint[:16], "scale": values.scale, "shift": values.shift}
                           for space, values in self.spaces.items()},
                "abstain_min_evidence": self.abstain_min_evidence}
