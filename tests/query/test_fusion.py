from assistant.query.fusion import reciprocal_rank_fusion, score_fusion
from assistant.store.backends import Hit


def test_reciprocal_rank_fusion_rewards_agreement_and_scales_to_one():
    fused = reciprocal_rank_fusion([[Hit(1, 0.9), Hit(2, 0.5)], [Hit(1, 7.0), Hit(3, 2.0)]], k=60)
    assert [h.passage for h in fused][0] == 1
    assert fused[0].score == 1.0


def test_score_fusion_weights_cosine_and_saturated_bm25():
    fused = score_fusion([Hit(1, 0.8), Hit(2, 0.6)], [Hit(2, 15.0), Hit(3, 5.0)], dense_weight=0.5, saturation=5.0)
    scores = {h.passage: round(h.score, 3) for h in fused}
    assert scores == {1: 0.4, 2: 0.675, 3: 0.25}
