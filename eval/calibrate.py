"""Measure `assistant/calibration.json` on the dev split (never the test split).

1. Each vector space's cosine onto the English model's scale: an affine map that gives the same
   question-passage pairs (the top candidates of both models for the English dev questions) the
   same mean and spread in both spaces (a reduced-major-axis fit: least squares of one score on
   the other would shrink the slope by their correlation and squeeze the multilingual scores
   against BM25; on dev, Russian Hit@1 0.489 with it, 0.556 with this), so either space's dense
   score fuses with BM25 alike.
2. Per question language, the least evidence an answer needs: the highest threshold that refuses
   at most `--max-false-abstention` of the answerable dev questions of that language (refusing an
   answerable question hides the answer; a wrong passage at least comes with its citation), which
   then refuses as many out-of-scope dev questions as it can.

Usage: python eval/calibrate.py [--write] [--max-false-abstention 0.05]
Without --write it prints what it measured and what it would write.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.embedding.calibration import Calibration, SpaceCalibration  # noqa: E402
from assistant.embedding import ENGLISH  # noqa: E402
from assistant.evaluate.gold import load_gold, select  # noqa: E402
from assistant.query.assistant import Assistant  # noqa: E402
from assistant.query.retrieve import dense_hits  # noqa: E402
from assistant.settings import Settings  # noqa: E402


def fit_space(assistant: Assistant, space: str, questions: list[str]) -> tuple[float, float, float]:
    """scale, shift mapping `space`'s cosine onto the English space's, and the pairs' R²."""
    index = assistant.index
    pairs = []
    for question in questions:
        vectors = {name: assistant.question_encoder(name).encode(question) for name in (ENGLISH, space)}
        scores = {name: {h.passage: h.score for h in dense_hits(index, name, vector, len(index.passages))}
                  for name, vector in vectors.items()}
        top = set(sorted(scores[ENGLISH], key=scores[ENGLISH].get)[-50:]) | set(sorted(scores[space], key=scores[space].get)[-50:])
        pairs += [(scores[space][p], scores[ENGLISH][p]) for p in top if p in scores[space] and p in scores[ENGLISH]]
    x, y = np.array(pairs).T
    correlation = float(np.corrcoef(x, y)[0, 1])
    scale = np.sign(correlation) * y.std() / x.std()
    shift = y.mean() - scale * x.mean()
    return float(scale), float(shift), correlation ** 2


def choose_threshold(answerable: list[float], unanswerable: list[float], max_false: float) -> float:
    """The highest threshold refusing at most `max_false` of `answerable` (ties resolved towards
    answering), rounded down to 0.005."""
    ordered = sorted(answerable)
    allowed = int(np.floor(max_false * len(ordered)))
    threshold = ordered[allowed] if allowed < len(ordered) else ordered[-1]
    return float(np.floor(threshold / 0.005) * 0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write assistant/calibration.json")
    parser.add_argument("--max-false-abstention", type=float, default=0.05)
    args = parser.parse_args()
    settings = Settings()
    assistant = Assistant.open(settings)
    gold = select(load_gold(settings.gold_file), split="dev")
    current = Calibration.load(settings.calibration_file)
    models = assistant.index.manifest["models"]

    spaces = {ENGLISH: SpaceCalibration(models[ENGLISH]["name"], assistant.embedders[ENGLISH].fingerprint)}
    english_questions = [q.question for q in gold if q.lang == "en"]
    for space in models:
        if space == ENGLISH:
            continue
        scale, shift, r2 = fit_space(assistant, space, english_questions)
        print(f"{space}: English-scale cosine = {scale:.3f} x cosine {shift:+.3f} (R² {r2:.3f}, "
              f"{len(english_questions)} English dev questions)")
        spaces[space] = SpaceCalibration(models[space]["name"], assistant.embedders[space].fingerprint, round(scale, 4),
                                         round(shift, 4))
    # Thresholds are measured with the new cosine maps in place.
    assistant.__dict__["calibration"] = Calibration(spaces, current.abstain_min_evidence)
    thresholds = {}
    for language in ("en", "ru", "kk"):
        questions = [q for q in gold if q.lang == language]
        evidence = {q.id: assistant.retrieve(q.question, 10).evidence for q in questions}
        answerable = [evidence[q.id] for q in questions if not q.out_of_scope]
        unanswerable = [evidence[q.id] for q in questions if q.out_of_scope]
        threshold = choose_threshold(answerable, unanswerable, args.max_false_abstention)
        thresholds[language] = round(threshold, 3)
        refused = sum(e < threshold for e in unanswerable)
        print(f"{language}: threshold {threshold:.3f}; answerable evidence min {min(answerable):.3f} median "
              f"{np.median(answerable):.3f}; out-of-scope evidence {sorted(round(e, 3) for e in unanswerable)}; "
              f"refuses {refused}/{len(unanswerable)} out-of-scope and "
              f"{sum(e < threshold for e in answerable)}/{len(answerable)} answerable")
    thresholds["default"] = thresholds["en"]
    measured = (f"python eval/calibrate.py --max-false-abstention {args.max_false_abstention}, dev split, "
                f"{date.today().isoformat()}")
    calibration = Calibration(spaces, thresholds, measured)
    if args.write:
        calibration.save(settings.calibration_file)
        print(f"wrote {settings.calibration_file}")
    else:
        print(calibration.describe())


if __name__ == "__main__":
    main()
