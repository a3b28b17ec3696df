"""The question's state as it goes through the query pipeline, and the protocol every stage keeps.

A stage takes the `Query` and returns it richer: `Understand` sets the language and tokens,
`Encode` the vectors, `DenseRetrieval` and `LexicalRetrieval` their hits, a fusion stage the
ranking and the evidence, `Rerank` the learned order, `RecencyOrder` the time order, `Abstain`
the refusal and `Compose` the answer. `factory.build_stages` turns `Settings` into the list; an
evaluation mode or an ablation is another list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from assistant.answer.asked import Part
from assistant.answer.coverage import CorpusCoverage
from assistant.answer.model import AbstainReason, Answer
from assistant.embedding.base import Embedder
from assistant.embedding.batching import QuestionEncoder
from assistant.embedding.calibration import Calibration
from assistant.embedding.sparse import SparseVector
from assistant.languages import Language
from assistant.query.answerability.model import AnswerabilityModel
from assistant.query.ranking.features import CandidateFeatures
from assistant.query.ranking.model import LinearRanker
from assistant.query.temporal import TimeView
from assistant.query.validation import Filters
from assistant.settings import Settings
from assistant.store.backends.base import Hit
from assistant.store.index import Index
from assistant.text.glossary import Glossary


class Resources(Protocol):
    """What stages use besides the question: the settings and what is loaded once per index (the
    `Assistant` provides it)."""

    settings: Settings
    embedders: dict[str, Embedder]

    @property
    def calibration(self) -> Calibration: ...

    @property
    def glossary(self) -> Glossary: ...

    @property
    def coverage(self) -> CorpusCoverage: ...

    @property
    def ranker(self) -> LinearRanker | None: ...

    @property
    def answerability(self) -> AnswerabilityModel | None: ...

    def question_encoder(self, space: str) -> QuestionEncoder: ...


@dataclass
class Query:
    """One question on its way to an answer: what the request asked (first four fields), then
    what each stage found."""

    question: str
    k: int
    index: Index
    """The build answering it, fixed for the whole answer even if `Assistant.refresh` swaps it."""
    filters: Filters = field(default_factory=Filters)
    language: Language = "en"
    text: str = ""
    """The question as read: as asked, or in its language's own letters when it was typed in Latin
    letters (`Understand`); what every later stage searches with."""
    allowed: frozenset[str] | None = None
    """The documents the filters allow (None: all)."""
    spaces: list[str] = field(default_factory=list)
    """The vector spaces (models) to encode the question in, first the one highlights use."""
    asked_tokens: list[str] = field(default_factory=list)
    """The question's lexical tokens as asked."""
    expansions: list[str] = field(default_factory=list)
    """The glossary's expansions of the question (its terms for what the question's words mean)."""
    expansion_tokens: list[str] = field(default_factory=list)
    untranslated_tokens: list[str] = field(default_factory=list)
    """The question's tokens outside the words the glossary translated."""
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    terms: dict[str, SparseVector] = field(default_factory=dict)
    """The question's latent terms, in each space whose model gives them and whose passages keep them."""
    dense: list[Hit] = field(default_factory=list)
    """Dense hits over every space, on the calibrated scale, best first."""
    latent: list[Hit] = field(default_factory=list)
    """Hits by the cosine of latent terms (passage or best sentence), best first."""
    lexical: list[Hit] = field(default_factory=list)
    """BM25 hits of the question with its expansions."""
    asked_lexical: list[Hit] = field(default_factory=list)
    """BM25 hits of the question as asked (the same list when there are no expansions)."""
    fused: list[Hit] = field(default_factory=list)
    """Score fusion of `dense` and `lexical`."""
    evidence: float = 0.0
    """The fused score of the best passage on the question as asked: what abstention judges."""
    ranking: list[Hit] = field(default_factory=list)
    """The order so far, best first."""
    relevance: dict[int, float] = field(default_factory=dict)
    """Each candidate's score in the first ranking (fused, dense or lexical): the evidence scale."""
    shown: dict[int, float] = field(default_factory=dict)
    """The score each result shows: the ranker's chance that it answers, else its relevance."""
    time: TimeView = field(default_factory=lambda: TimeView("neutral"))
    features: CandidateFeatures | None = None
    """The ranker's features of the candidates it ordered (None: not reordered by a ranker)."""
    ranker_scores: np.ndarray | None = None
    """The ranker's log-odds of each row of `features`."""
    answerability: float | None = None
    """The answerability model's chance that the collection answers the question (None: no model)."""
    missing: Part | None = None
    """What the question asks for (a penalty, a price...) that none of the first passages gives."""
    abstain_reason: AbstainReason | None = None
    answer: Answer | None = None

    @property
    def tokens(self) -> list[str]:
        """The question's tokens with its glossary expansions."""
        return self.asked_tokens + self.expansion_tokens


class Stage(Protocol):
    """One step of answering: reads what earlier stages put in `query`, adds its own."""

    @property
    def name(self) -> str:
        """What reports and tests call it ("dense", "rerank", "order by time")."""
        ...

    def __call__(self, query: Query, resources: Resources) -> Query: ...
