"""The factory: settings become the list of stages, and every ablation is another list."""

from __future__ import annotations

import pytest

from assistant.evaluate.gold import MODES
from assistant.query.factory import build_stages
from assistant.settings import Settings

PRODUCT = ["understand", "glossary", "encode", "dense", "latent terms", "lexical", "fuse", "order by fused score", "answering sources",
           "rerank", "order by time", "abstain (answerability model)", "compose"]


def names(**overrides) -> list[str]:
    return [stage.name for stage in build_stages(Settings().model_copy(update=overrides))]


def test_the_product_runs_every_stage_in_order():
    assert names() == PRODUCT


def product_with(replaced: dict[str, str | None]) -> list[str]:
    """The product's list with stages replaced (None: left out)."""
    kept = [replaced.get(name, name) for name in PRODUCT]
    return [name for name in kept if name is not None]


@pytest.mark.parametrize(("overrides", "replaced"), [
    # The answerability model reads the ranker's scores: without the ranker the evidence floor decides.
    ({"ranker": "fusion"}, {"rerank": None, "abstain (answerability model)": "abstain"}),
    ({"use_glossary": False}, {"glossary": None}),
    ({"latent_terms": False}, {"latent terms": None}),
    ({"retrieval": "lexical"}, {"order by fused score": "order by BM25", "rerank": None,
                                "abstain (answerability model)": "abstain"}),
    ({"retrieval": "dense"}, {"order by fused score": "order by dense score", "rerank": None,
                              "abstain (answerability model)": "abstain"}),
    (MODES["evidence floor (no answerability model)"], {"abstain (answerability model)": "abstain"}),
    ({"fusion": "rrf"}, {"order by fused score": "order by reciprocal rank fusion"}),
    (MODES["no time ordering"], {"order by time": None}),
])
def test_an_ablation_is_another_list(overrides, replaced):
    assert names(**overrides) == product_with(replaced)


def test_the_ranker_orders_only_a_hybrid_ranking():
    assert "rerank" not in names(retrieval="dense")
    assert "rerank" not in names(retrieval="lexical")
