"""The learned ranker over retrieval's candidates: features (`features.py`), the model and its
file (`model.py`), and the training command (`python -m assistant.evaluate.train_ranker`)."""

from assistant.query.ranking.features import FEATURES, SENTENCE_FEATURES, CandidateFeatures, compute, question_types
from assistant.query.ranking.model import LinearRanker, load_ranker

__all__ = ["FEATURES", "SENTENCE_FEATURES", "CandidateFeatures", "LinearRanker", "compute", "load_ranker",
           "question_types"]
