from collections import Counter

from conftest import REPO

from assistant.evaluate.gold import MODES, _rank_metrics, evaluate, fold, is_hit, load_gold, select

GOLD = REPO / "eval" / "gold.jsonl"
PRODUCT_MODE = "product"
FLOORS = {"en": ("hit@3", 0.71), "ru": ("hit@3", 0.81), "kk": ("hit@5", 0.76)}
"""Per language, a metric of the product mode on the test split that must not fall below its floor:
measured 0.741 (en Hit@3, 158 questions), 0.864 (ru Hit@3, 81), 0.806 (kk Hit@5, 72) on 2026-12-07
(issue 24, eval/report.md, on the gold set that issue grew by 192 questions), minus about four
questions' worth."""
REFUSALS = {"en": (0.49, 0.03), "ru": (0.55, 0.05), "kk": (0.68, 0.06)}
"""Per language, the least share of out-of-scope test questions refused and the most of answerable
ones refused: measured 0.547 and 0.019 (en: 53 out of scope, 158 answerable), 0.617 and 0.037 (ru:
47, 81), 0.750 and 0.042 (kk: 48, 72) on 2026-12-07 (issue 24, on the gold set it grew), less about
three questions' worth of recall and one question more of false refusals."""


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
    # Issue 22: 50 near misses per language, in both splits, each labelled with what it asks.
    for lang in ("en", "ru", "kk"):
        near = [q for q in gold if q.lang == lang and q.question_set == "near-miss"]
        assert len(near) >= 50 and all(q.out_of_scope and q.near_miss for q in near), lang
        assert {q.split for q in near} == {"dev", "test"}, lang
    served = " ".join(fold(d.text) for d in index.documents.values())
    for question in in_scope:
        assert any(fold(answer) in served for answer in question.answers), question.id


def test_ci_gate_the_test_split_does_not_regress_in_any_language(settings, index):
    report = evaluate(settings, load_gold(GOLD), split="test", modes={PRODUCT_MODE: MODES[PRODUCT_MODE]})
    product = report["modes"][PRODUCT_MODE]
    for language, (metric, floor) in FLOORS.items():
        assert product["by_language"][language][metric] >= floor, (language, product["by_language"][language])
    for language, (recall, false_refusals) in REFUSALS.items():
        found = product["by_language"][language]
        assert found["abstention_recall"] >= recall and found["false_abstention_rate"] <= false_refusals, (language, found)


def test_select_takes_a_kind_or_every_other_kind():
    gold = load_gold(REPO / "eval" / "gold.jsonl")
    temporal = select(gold, split="test", kind="temporal")
    others = select(gold, split="test", kind="not-temporal")
    assert temporal and others and all(q.kind == "temporal" for q in temporal)
    assert not any(q.kind == "temporal" for q in others)
    assert len(temporal) + len(others) == len(select(gold, split="test"))
