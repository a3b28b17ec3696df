"""Settings become the query pipeline: the list of stages `Assistant.ask` runs.

A behaviour the settings switch on or off, or choose between, is a stage taken in or left out,
or another stage in its place (an ablation in `assistant eval` is a settings override, so another
list); stages read only their own parameters (weights, depths, and in `ScoreFusion` how a foreign
passage's lexical part is imputed and which languages' expansions count as evidence). A new
signal or reranker is one module with a class that keeps `state.Stage`, and one line here.
"""

from __future__ import annotations

from assistant.query.compose import Abstain, AbstainByModel, Compose
from assistant.query.fusion import DENSE_ORDER, FUSED_ORDER, LEXICAL_ORDER, RANK_FUSION_ORDER, ScoreFusion
from assistant.query.rerank import Rerank
from assistant.query.retrieve import DenseRetrieval, LatentRetrieval, LexicalRetrieval
from assistant.query.state import Stage
from assistant.query.time_order import AnsweringSources, RecencyOrder
from assistant.query.understand import Encode, GlossaryExpansion, Understand
from assistant.settings import Settings


def order_stage(settings: Settings) -> Stage:
    """The stage that sets the first ranking, by the `retrieval` and `fusion` settings."""
    if settings.retrieval == "dense":
        return DENSE_ORDER
    if settings.retrieval == "lexical":
        return LEXICAL_ORDER
    return FUSED_ORDER if settings.fusion == "score" else RANK_FUSION_ORDER


def retrieval_stages(settings: Settings) -> list[Stage]:
    """The stages that find and order the passages (what `Assistant.retrieve` runs)."""
    stages: list[Stage] = [Understand()]
    if settings.use_glossary:
        stages.append(GlossaryExpansion())
    stages += [Encode(), DenseRetrieval()]
    if settings.latent_terms:
        stages.append(LatentRetrieval())
    stages += [LexicalRetrieval(), ScoreFusion(), order_stage(settings), AnsweringSources()]
    if settings.ranker == "learned" and settings.retrieval == "hybrid":
        stages.append(Rerank())
    if RecencyOrder.applies(settings):
        stages.append(RecencyOrder())
    return stages


def answer_stages(settings: Settings) -> list[Stage]:
    """The stages that turn the ordered passages into the answer. The answerability model reads
    the learned ranker's scores, so it judges only where the ranker ran."""
    model = settings.abstention == "model" and settings.ranker == "learned" and settings.retrieval == "hybrid"
    return [AbstainByModel() if model else Abstain(), Compose()]


def build_stages(settings: Settings) -> list[Stage]:
    """The whole pipeline of `Assistant.ask`."""
    return retrieval_stages(settings) + answer_stages(settings)
