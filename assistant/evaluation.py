"""Evaluation over a gold file (design.md): how often the right passage comes first, per mode.

A result is a hit when its text, lower-cased with white space folded, contains a gold answer.
Every mode runs through `Assistant.ask`, the same path users get.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from pathlib import Path

from pydantic import BaseModel, ValidationError

from .answer import Answer
from .errors import AssistantError
from .pipeline import Assistant, use_query_threads
from .settings import Settings

NO_FOLDING = 1.01
MODES = {
    "lexical": {"retrieval": "lexical", "use_glossary": False},
    "dense": {"retrieval": "dense", "use_glossary": False},
    "hybrid": {"retrieval": "hybrid", "use_glossary": False},
    "hybrid+glossary": {"retrieval": "hybrid", "use_glossary": True},
    "hybrid+glossary, no folding": {"retrieval": "hybrid", "use_glossary": True, "duplicate_similarity": NO_FOLDING},
}
"""Modes side by side; the product default is hybrid+glossary with duplicates folded."""
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


def first_hit_rank(answer: Answer, answers: list[str]) -> int | None:
    for result in answer.results:
        if is_hit(result.text, answers):
            return result.rank
    return None


def score_mode(assistant: Assistant, gold: list[GoldQuestion]) -> dict:
    in_scope = [q for q in gold if not q.out_of_scope]
    out_of_scope = [q for q in gold if q.out_of_scope]
    latencies, ranks, highlights, abstained_in, abstained_out, misses, per_doc = [], [], [], 0, 0, [], {}
    sources, folded, spans = [], [], 0
    for question in gold:
        started = time.perf_counter()
        answer = assistant.ask(question.question, CUTOFF)
        latencies.append((time.perf_counter() - started) * 1000)
        if question.out_of_scope:
            abstained_out += answer.abstained
            continue
        abstained_in += answer.abstained
        sources.append(len({r.citation.doc_id for r in answer.results[:5]}))
        folded.append(sum(len(r.also_in) for r in answer.results[:5]))
        spans += answer.sources_span is not None
        rank = first_hit_rank(answer, question.answers)
        ranks.append(rank)
        per_doc.setdefault(question.doc or "?", []).append(rank)
        if rank is not None:
            hit = answer.results[rank - 1]
            highlights.append(is_hit(hit.text[hit.highlight.start : hit.highlight.end], question.answers))
        if rank != 1:
            top = answer.results[0] if answer.results else None
            misses.append(
                {
                    "id": question.id,
                    "question": question.question,
                    "answers": question.answers,
                    "rank": rank,
                    "top": f"{top.citation.doc_id} · {top.citation.section or '-'}: {top.text[:160]}" if top else None,
                }
            )
    total_abstained = abstained_in + abstained_out
    return {
        "questions": len(in_scope),
        "out_of_scope": len(out_of_scope),
        **_rank_metrics(ranks),
        "highlight_accuracy": _ratio(sum(highlights), len(highlights)),
        "abstention_recall": _ratio(abstained_out, len(out_of_scope)),
        "abstention_precision": _ratio(abstained_out, total_abstained),
        "false_abstention_rate": _ratio(abstained_in, len(in_scope)),
        "distinct_sources@5": round(statistics.mean(sources), 3) if sources else None,
        "folded@5": round(statistics.mean(folded), 3) if folded else None,
        "sources_span_rate": _ratio(spans, len(in_scope)),
        "latency_ms_median": round(statistics.median(latencies), 2) if latencies else None,
        "latency_ms_p95": round(_percentile(latencies, 95), 2) if latencies else None,
        "per_document": {doc: _rank_metrics(doc_ranks) for doc, doc_ranks in sorted(per_doc.items())},
        "misses": misses,
    }


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


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(percent / 100 * len(ordered)) - 1))]


def evaluate(settings: Settings, gold: list[GoldQuestion], split: str = "all", modes: dict | None = None) -> dict:
    chosen = [q for q in gold if split == "all" or q.split == split]
    if not chosen:
        raise AssistantError(f"no gold questions in split {split!r}")
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
        "settings": settings.model_dump(mode="json", include={"chunk_target_chars", "chunk_max_chars", "fusion",
                                                              "fusion_dense_weight", "lexical_saturation", "candidates",
                                                              "abstain_min_evidence", "duplicate_similarity",
                                                              "span_min_years"}),
        "index": {key: base.index.manifest.get(key) for key in ("passages", "documents", "models", "built_at")},
        "modes": results,
    }


METRIC_COLUMNS = ["hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10", "highlight_accuracy", "abstention_recall",
                  "abstention_precision", "false_abstention_rate", "distinct_sources@5", "folded@5",
                  "latency_ms_median", "latency_ms_p95"]


def format_report(report: dict) -> str:
    lines = [f"split: {report['split']} ({report['gold_questions']} questions)", ""]
    lines.append("| mode | " + " | ".join(METRIC_COLUMNS) + " |")
    lines.append("|---" * (len(METRIC_COLUMNS) + 1) + "|")
    for mode, metrics in report["modes"].items():
        lines.append(f"| {mode} | " + " | ".join(_cell(metrics.get(c)) for c in METRIC_COLUMNS) + " |")
    product = "hybrid+glossary"
    hybrid = report["modes"].get(product) or next(iter(report["modes"].values()))
    lines += ["", f"Per document ({product}):", "", "| document | n | hit@1 | hit@3 | mrr@10 |", "|---|---|---|---|---|"]
    for doc, metrics in hybrid["per_document"].items():
        lines.append(f"| {doc} | {metrics['n']} | {_cell(metrics['hit@1'])} | {_cell(metrics['hit@3'])} | {_cell(metrics['mrr@10'])} |")
    lines += ["", f"Misses at rank 1 ({product}): {len(hybrid['misses'])}", ""]
    for miss in hybrid["misses"]:
        lines.append(f"- {miss['id']} (rank {miss['rank']}) {miss['question']!r} -> {miss['top']}")
    return "\n".join(lines)


def _cell(value) -> str:
    return "–" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
