from collections import Counter

from assistant.evaluation import MODES, evaluate, fold, is_hit, load_gold, _rank_metrics
from conftest import REPO

GOLD = REPO / "eval" / "gold.jsonl"
PRODUCT_MODE = "product"
HYBRID_HIT3_TEST_FLOOR = 0.74
"""Measured 0.787 on the test split (eval/report.md, 2026-11-23) minus a margin of about four
questions: a change that loses more than that fails the suite."""


def test_hit_rule_folds_case_and_white_space():
    assert fold("  Sex work was\n decriminalised ") == "sex work was decriminalised"
    assert is_hit("Sex work was\ndecriminalised in Kazakhstan in 2001", ["decriminalised in kazakhstan in 2001"])
    assert not is_hit("Sex work", ["decriminalised"])


def test_rank_metrics_on_hand_computed_ranks():
    metrics = _rank_metrics([1, 3, None, 2])
    assert metrics["hit@1"] == 0.25 and metrics["hit@3"] == 0.75 and metrics["hit@5"] == 0.75
    assert metrics["mrr@10"] == round((1 + 1 / 3 + 1 / 2) / 4, 4)


def test_gold_set_covers_every_document_with_dev_and_test_splits(index):
    gold = load_gold(GOLD)
    in_scope = [q for q in gold if not q.out_of_scope]
    assert len(in_scope) >= 80 and len(gold) - len(in_scope) >= 10
    assert {q.split for q in gold} == {"dev", "test"}
    assert len({q.id for q in gold}) == len(gold)
    assert set(Counter(q.doc for q in in_scope)) == set(index.documents)
    for lang in ("en", "ru", "kk"):
        in_language = [q for q in gold if q.lang == lang]
        assert {q.doc for q in in_language if not q.out_of_scope} == set(index.documents), lang
        assert sum(q.out_of_scope for q in in_language) >= 6, lang
    assert sum(q.kind == "temporal" for q in gold) >= 20
    served = " ".join(fold(d.text) for d in index.documents.values())
    for question in in_scope:
        assert any(fold(answer) in served for answer in question.answers), question.id


def test_ci_gate_hybrid_hit_at_3_on_test_does_not_regress(settings, index):
    english = [q for q in load_gold(GOLD) if q.lang == "en" and q.question_set == "original"]
    report = evaluate(settings, english, split="test", modes={PRODUCT_MODE: MODES[PRODUCT_MODE]})
    assert report["modes"][PRODUCT_MODE]["hit@3"] >= HYBRID_HIT3_TEST_FLOOR, report["modes"][PRODUCT_MODE]["misses"]
