"""Evaluation over a gold file (design.md): how often the right passage comes first, per mode,
per language and per kind of question.

A result is a hit when its text, lower-cased with white space folded, contains a gold answer.
Every mode runs through `Assistant.ask`, the same path users get; a mode is a set of settings
overrides, and "product" is the settings as they are.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from assistant.answer.abstain import NOT_JUDGED_REASONS
from assistant.answer.model import Answer
from assistant.errors import AssistantError
from assistant.languages import LANGUAGES
from assistant.query.assistant import Assistant, use_query_threads
from assistant.settings import Settings

PRODUCT = "product"
NO_FOLDING = 1.01
EVERY_LANGUAGE = LANGUAGES
MODES: dict[str, dict] = {
    PRODUCT: {},
    "no ranker (score fusion)": {"ranker": "fusion"},
    "lexical only": {"retrieval": "lexical"},
    "dense only": {"retrieval": "dense"},
    "no glossary": {"use_glossary": False},
    "no folding": {"duplicate_similarity": NO_FOLDING},
    "English model for every question": {"spaces_by_language": {lang: ["english"] for lang in EVERY_LANGUAGE},
                                         "multilingual_for_foreign_documents": False},
    "multilingual model for every question": {"spaces_by_language": {lang: ["multilingual"] for lang in EVERY_LANGUAGE}},
    "both models for every question": {"spaces_by_language": {lang: ["english", "multilingual"] for lang in EVERY_LANGUAGE}},
    "foreign passages without a lexical part": {"cross_language_lexical": "zero"},
    "evidence floor (no answerability model)": {"abstention": "floor"},
    "no time ordering": {"recency_present_weight": 0.0, "recency_ranker_weight": 0.0, "newest_in_top": 0,
                         "newest_in_top_present": 0},
}
"""Modes side by side: the product (the settings as they are) and one lever changed at a time."""
CUTOFF = 10


class GoldQuestion(BaseModel):
    id: str
    question: str
    answers: list[str]
    out_of_scope: bool = False
    split: str | None = None
    doc: str | None = None
    kind: str | None = None
    lang: str = "en"
    time_focus: str | None = None
    style: str | None = None
    near_miss: str | None = None
    """For an out-of-scope question close to the collection's subjects: what kind of near miss
    ("neighbouring-country", "other-law", "price", "phone-address", "statistic-year", "medical",
    "penalty", "number")."""

    @property
    def question_set(self) -> str:
        """Which part of the gold set the question belongs to: the first hand-written set
        ("original"), questions in users' own words ("colloquial"), Kazakh questions built from
        everyday words ("everyday"), Russian or Kazakh typed in Latin letters ("latin"),
        time-sensitive ones ("temporal: present|past|change"), out-of-scope questions close to the
        collection's subjects ("near-miss") or far from them ("off-topic")."""
        if self.kind == "temporal":
            return f"temporal: {self.time_focus or '?'}"
        return self.style if self.style in ("colloquial", "everyday", "latin", "near-miss", "off-topic") else "original"


def fold(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def is_hit(text: str, answers: list[str]) -> bool:
    folded = fold(text)
    return any(fold(answer) in folded for answer in answers)


def load_gold(path: Path) -> list[GoldQuestion]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise AssistantError(f"cannot read gold file {path}: {error.strerror}") from None
    gold = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            gold.append(GoldQuestion.model_validate_json(line))
        except ValidationError as error:
            raise AssistantError(f"{path}:{number} is not a gold question: {error.errors()[0]['msg']}") from None
    return gold


def select(gold: Iterable[GoldQuestion], *, split: str = "all", lang: str | None = None,
           kind: str | None = None) -> list[GoldQuestion]:
    """The gold questions of a split, a language and a kind (None: any; "not-KIND": every other
    kind, e.g. "not-temporal" for the questions where time does not matter)."""
    def kind_matches(question: GoldQuestion) -> bool:
        if kind is None:
            return True
        if kind.startswith("not-"):
            return question.kind != kind[4:]
        return question.kind == kind

    return [q for q in gold if (split == "all" or q.split == split) and (lang is None or q.lang == lang)
            and kind_matches(q)]


def first_hit_rank(answer: Answer, answers: list[str]) -> int | None:
    for result in answer.results:
        if is_hit(result.text, answers):
            return result.rank
    return None


@dataclass
class Outcome:
    """What `ask` did with one gold question."""

    question: GoldQuestion
    answer: Answer
    rank: int | None
    latency_ms: float
    newest_at: int | None
    """For a question about the present: the first rank whose source is of the newest period among
    the sources holding a gold answer (the newest one, or at most `recency_same_period_years`
    older); None for other questions, or when no such source is in the results."""


def run_gold(assistant: Assistant, gold: list[GoldQuestion]) -> list[Outcome]:
    """Ask every gold question once (k = CUTOFF), timing each call."""
    years = {doc_id: d.metadata.year for doc_id, d in assistant.index.documents.items()}
    outcomes = []
    for question in gold:
        started = time.perf_counter()
        answer = assistant.ask(question.question, CUTOFF)
        latency = (time.perf_counter() - started) * 1000
        rank = None if question.out_of_scope else first_hit_rank(answer, question.answers)
        outcomes.append(Outcome(question, answer, rank, latency, _newest_at(assistant, question, answer, years)))
    return outcomes


def _newest_at(assistant: Assistant, question: GoldQuestion, answer: Answer, years: dict) -> int | None:
    """See `Outcome.newest_at`; 0 when the question is about the present but no dated source holds
    an answer (nothing to judge)."""
    if question.time_focus != "present":
        return None
    holding = {p.doc_id for p in assistant.index.passages if is_hit(p.text, question.answers)}
    dated = [years[doc] for doc in holding if years.get(doc) is not None]
    if not dated:
        return 0
    period = max(dated) - assistant.settings.recency_same_period_years
    return next((result.rank for result in answer.results
                 if (years.get(result.citation.doc_id) or 0) >= period), CUTOFF + 1)


def summarize(outcomes: list[Outcome]) -> dict:
    """Every metric over a set of outcomes."""
    in_scope = [o for o in outcomes if not o.question.out_of_scope]
    out_of_scope = [o for o in outcomes if o.question.out_of_scope]
    abstained_in = sum(o.answer.abstained for o in in_scope)
    abstained_out = sum(o.answer.abstained for o in out_of_scope)
    highlights = []
    for o in in_scope:
        if o.rank is not None:
            hit = o.answer.results[o.rank - 1]
            highlights.append(is_hit(hit.text[hit.highlight.start : hit.highlight.end], o.question.answers))
    newest = [o.newest_at for o in in_scope if o.newest_at]
    latencies = [o.latency_ms for o in outcomes]
    return {
        "questions": len(in_scope),
        "out_of_scope": len(out_of_scope),
        **_rank_metrics([o.rank for o in in_scope]),
        "highlight_accuracy": _ratio(sum(highlights), len(highlights)),
        "abstention_recall": _ratio(abstained_out, len(out_of_scope)),
        "abstention_precision": _ratio(abstained_out, abstained_in + abstained_out),
        "false_abstention_rate": _ratio(abstained_in, len(in_scope)),
        # An answer given but said to lack what was asked (a penalty, a price...): in scope, the
        # share of questions; out of scope, the share of those not refused.
        "partial_rate": _ratio(sum(bool(o.answer.missing_note) for o in in_scope), len(in_scope)),
        "partial_out_of_scope": _ratio(sum(bool(o.answer.missing_note) for o in out_of_scope if not o.answer.abstained),
                                       len(out_of_scope) - abstained_out),
        "newest_source@1": _ratio(sum(rank == 1 for rank in newest), len(newest)),
        "newest_source@3": _ratio(sum(rank <= 3 for rank in newest), len(newest)),
        "distinct_sources@5": _mean([len({r.citation.doc_id for r in o.answer.results[:5]}) for o in in_scope]),
        "folded@5": _mean([sum(len(r.also_in) for r in o.answer.results[:5]) for o in in_scope]),
        "sources_span_rate": _ratio(sum(o.answer.sources_span is not None for o in in_scope), len(in_scope)),
        "latency_ms_median": round(statistics.median(latencies), 2) if latencies else None,
        "latency_ms_p95": round(_percentile(latencies, 95), 2) if latencies else None,
    }


def breakdown(outcomes: list[Outcome], key: Callable[[GoldQuestion], str | None]) -> dict[str, dict]:
    """`summarize` per group of questions, groups in first-seen order (None: left out)."""
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        name = key(outcome.question)
        if name is not None:
            groups.setdefault(name, []).append(outcome)
    return {name: summarize(group) for name, group in groups.items()}


def score_mode(assistant: Assistant, gold: list[GoldQuestion]) -> dict:
    """Every metric of one mode: overall, by language, by question set and kind, per document,
    and each question not answered first."""
    outcomes = run_gold(assistant, gold)
    misses = []
    for o in outcomes:
        if o.question.out_of_scope or o.rank == 1:
            continue
        top = o.answer.results[0] if o.answer.results else None
        misses.append({
            "id": o.question.id, "lang": o.question.lang, "question": o.question.question,
            "answers": o.question.answers, "rank": o.rank, "abstained": o.answer.abstained,
            "top": f"{top.citation.doc_id} · {top.citation.section or '-'}: {top.text[:160]}" if top else None,
        })
    return {
        **summarize(outcomes),
        "by_language": {lang: found for lang, found in breakdown(outcomes, lambda q: q.lang).items()},
        "by_set": breakdown(outcomes, lambda q: q.question_set),
        "by_language_and_set": breakdown(outcomes, lambda q: f"{q.lang} {q.question_set}"),
        "by_kind": breakdown(outcomes, lambda q: None if q.out_of_scope else q.kind),
        "by_near_miss": breakdown(outcomes, lambda q: q.near_miss),
        "abstention_curve": abstention_curve(outcomes, assistant.answerability.threshold
                                             if assistant.answerability is not None else None),
        "per_document": breakdown(outcomes, lambda q: None if q.out_of_scope else q.doc or "?"),
        "misses": misses,
    }


CURVE_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def abstention_curve(outcomes: list[Outcome], shipped: float | None) -> list[dict]:
    """Abstention recall, precision and false abstention by language, were the answerability
    model's threshold another than `shipped` (the refusals that are not the model's, a place no
    document names or filters that leave none, stand whatever the threshold); empty without the model."""
    if shipped is None or not any(o.answer.answerability is not None for o in outcomes):
        return []

    def refused(o: Outcome, threshold: float) -> bool:
        message = o.answer.abstain_message()
        if o.answer.answerability is None or (message is not None and message.msgid in NOT_JUDGED_REASONS):
            return o.answer.abstained
        return o.answer.answerability < threshold

    rows = []
    for threshold in sorted({*CURVE_THRESHOLDS, shipped}):
        row: dict = {"threshold": round(threshold, 4) if threshold != shipped else f"{threshold:.4f} (shipped)"}
        for lang in [None, *LANGUAGES]:
            group = [o for o in outcomes if lang is None or o.question.lang == lang]
            refused_in = sum(refused(o, threshold) for o in group if not o.question.out_of_scope)
            refused_out = sum(refused(o, threshold) for o in group if o.question.out_of_scope)
            name = lang or "all"
            row[f"{name} recall"] = _ratio(refused_out, sum(o.question.out_of_scope for o in group))
            row[f"{name} false abstention"] = _ratio(refused_in, sum(not o.question.out_of_scope for o in group))
            if lang is None:
                row["all precision"] = _ratio(refused_out, refused_in + refused_out)
        rows.append(row)
    return rows


def _rank_metrics(ranks: list[int | None]) -> dict:
    n = len(ranks)
    found = [r for r in ranks if r is not None]
    return {
        "n": n,
        "hit@1": _ratio(sum(r <= 1 for r in found), n),
        "hit@3": _ratio(sum(r <= 3 for r in found), n),
        "hit@5": _ratio(sum(r <= 5 for r in found), n),
        "mrr@10": round(sum(1 / r for r in found if r <= CUTOFF) / n, 4) if n else None,
        # Binary relevance with one judged-relevant passage per question: nDCG@10 = 1/log2(rank+1).
        "ndcg@10": round(sum(1 / math.log2(r + 1) for r in found if r <= CUTOFF) / n, 4) if n else None,
    }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: list[float]) -> float | None:
    return round(statistics.mean(values), 3) if values else None


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(percent / 100 * len(ordered)) - 1))]


REPORTED_SETTINGS = ("chunk_target_chars", "chunk_max_chars", "fusion", "fusion_dense_weight", "lexical_saturation",
                     "candidates", "duplicate_similarity", "span_min_years", "spaces_by_language")


def evaluate(settings: Settings, gold: list[GoldQuestion], split: str = "all", modes: dict | None = None, *,
             lang: str | None = None, kind: str | None = None) -> dict:
    """Every mode over the chosen gold questions, through one loaded index."""
    chosen = select(gold, split=split, lang=lang, kind=kind)
    if not chosen:
        raise AssistantError(f"no gold questions in split {split!r}" + (f", language {lang!r}" if lang else "")
                             + (f", kind {kind!r}" if kind else ""))
    base = Assistant.open(settings)
    use_query_threads(settings, base.embedders)
    results = {}
    for name, overrides in (modes or MODES).items():
        assistant = Assistant(base.index, base.embedders, settings.model_copy(update=overrides))
        assistant.ask("warm-up question", 1)
        results[name] = score_mode(assistant, chosen)
    return {
        "split": split,
        "gold_questions": len(chosen),
        "settings": settings.model_dump(mode="json", include=set(REPORTED_SETTINGS)),
        "index": {key: base.index.manifest.get(key) for key in ("passages", "documents", "models", "built_at")},
        "modes": results,
    }


METRIC_COLUMNS = ["hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10", "highlight_accuracy", "abstention_recall",
                  "abstention_precision", "false_abstention_rate", "distinct_sources@5", "folded@5",
                  "latency_ms_median", "latency_ms_p95"]
GROUP_COLUMNS = ["n", "hit@1", "hit@3", "hit@5", "mrr@10", "highlight_accuracy", "abstention_recall",
                 "abstention_precision", "false_abstention_rate", "partial_rate", "newest_source@1", "newest_source@3",
                 "latency_ms_median"]


def format_report(report: dict) -> str:
    """The report as Markdown tables: modes; the product by language, question set and kind; the
    modes by language; per document; every question not answered first."""
    modes = report["modes"]
    product = PRODUCT if PRODUCT in modes else next(iter(modes))
    main = modes[product]
    lines = [f"split: {report['split']} ({report['gold_questions']} questions)", ""]
    lines += ["Modes (all languages):", "", *_table("mode", modes, METRIC_COLUMNS), ""]
    lines += [f"By language ({product}; n counts questions in scope, out-of-scope ones count for abstention):", "",
              *_table("language", main["by_language"], ["out_of_scope", *GROUP_COLUMNS]), ""]
    languages = [lang for lang in LANGUAGES if lang in main["by_language"]]
    if len(modes) > 1 and len(languages) > 1:
        columns = [f"{lang} {metric}" for lang in languages for metric in ("hit@1", "hit@3", "mrr@10")]
        lines += ["Modes by language:", "", "| mode | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for mode, metrics in modes.items():
            cells = [_cell(metrics["by_language"].get(lang, {}).get(metric))
                     for lang in languages for metric in ("hit@1", "hit@3", "mrr@10")]
            lines.append(f"| {mode} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"By question set ({product}):", "", *_table("set", main["by_set"], GROUP_COLUMNS), ""]
    lines += [f"By language and question set ({product}):", "",
              *_table("language, set", dict(sorted(main["by_language_and_set"].items())), GROUP_COLUMNS), ""]
    if main.get("by_near_miss"):
        lines += [f"Near misses by what they ask ({product}; out of scope: refused, and of those answered, the share "
                  "said to lack what was asked):", "",
                  *_table("near miss", main["by_near_miss"], ["out_of_scope", "abstention_recall", "partial_out_of_scope"]), ""]
    if main.get("abstention_curve"):
        curve = main["abstention_curve"]
        columns = [key for key in curve[0] if key != "threshold"]
        lines += [f"Abstention by the answerability model's threshold ({product}; a question is refused below it):", "",
                  *_table("threshold", {str(row["threshold"]): row for row in curve}, columns), ""]
    lines += [f"By kind of question ({product}):", "", *_table("kind", main["by_kind"], ["n", "hit@1", "hit@3", "mrr@10"]), ""]
    lines += [f"Per document ({product}):", "", *_table("document", main["per_document"], ["n", "hit@1", "hit@3", "mrr@10"]), ""]
    lines += [f"Misses at rank 1 ({product}): {len(main['misses'])}", ""]
    for miss in main["misses"]:
        flag = " [abstained]" if miss["abstained"] else ""
        lines.append(f"- {miss['id']} ({miss['lang']}, rank {miss['rank']}){flag} {miss['question']!r} -> {miss['top']}")
    return "\n".join(lines)


def _table(label: str, rows: dict[str, dict], columns: list[str]) -> list[str]:
    lines = [f"| {label} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, metrics in rows.items():
        lines.append(f"| {name} | " + " | ".join(_cell(metrics.get(c)) for c in columns) + " |")
    return lines


def _cell(value) -> str:
    return "–" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
