"""Whether the collection answers a question at all: features of the whole question
(`features.py`), the model, its threshold and its file (`model.py`), and the training command
(`python -m assistant.evaluate.train_answerability`)."""

from assistant.query.answerability.features import FEATURES, compute
from assistant.query.answerability.model import AnswerabilityModel, load_answerability

__all__ = ["FEATURES", "AnswerabilityModel", "compute", "load_answerability"]
