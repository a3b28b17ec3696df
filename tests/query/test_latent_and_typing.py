"""Issue 24's query-side levers through `Assistant`: the latent-terms stage (filters narrow its
search, never its top k) and questions typed in Latin letters, read in their own language."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.embedding import MULTILINGUAL
from assistant.evaluate.gold import is_hit
from assistant.query.ranking.features import FEATURES, latent_scores
from assistant.query.validation import Filters

REPORT_CARD = "ippf-2012-hiv-prevention-report-card"


def test_latent_terms_search_only_the_documents_the_filters_allow(assistant, index):
    question = "Жезөкшелік үшін полиция айыппұл сала ма?"
    everywhere = assistant.retrieve(question, 5)
    only = assistant.retrieve(question, 5, filters=Filters(doc_ids=frozenset({REPORT_CARD})))
    assert everywhere.latent and only.latent
    assert all(index.passage_doc_ids[hit.passage] == REPORT_CARD for hit in only.latent)
    allowed = np.array([row for row, doc in enumerate(index.passage_doc_ids) if doc == REPORT_CARD])
    found = latent_scores(index, MULTILINGUAL, only.terms[MULTILINGUAL], allowed)
    best = allowed[np.argsort(-found, kind="stable")][: len(only.latent)]
    assert [hit.passage for hit in only.latent] == best.tolist()


def test_the_ranker_reads_the_latent_terms_of_each_candidate(assistant):
    query = assistant.retrieve("what happens if cops find condoms on me", 5)
    assert query.features is not None
    latent = query.features.matrix[:, FEATURES.index("latent")]
    assert latent.max() > 0.1 and np.allclose(query.features.matrix[:, FEATURES.index("latent_gap")], latent - latent.max())
    off = assistant.__class__(assistant.index, assistant.embedders, assistant.settings.model_copy(update={"latent_terms": False}))
    assert not off.retrieve("what happens if cops find condoms on me", 5).terms


@pytest.mark.parametrize(("typed", "language", "answers"), [
    ("legalna li prostitutsiya v kazakhstane seichas", "ru",
     ["redefined the parameters of sexual services", "conflates sex work with trafficking",
      "provision of sex services (prostitution) is not illegal"]),
    ("skolko druzhestvennykh kabinetov v kazakhstane", "ru", ["friendly cabinets"]),
    ("qazaqstanda zhezokshelik qylmys pa", "kk",
     ["redefined the parameters of sexual services", "conflates sex work with trafficking",
      "provision of sex services (prostitution) is not illegal"]),
])
def test_a_question_typed_in_latin_letters_is_read_in_its_language(assistant, typed, language, answers):
    answer = assistant.ask(typed, 3)
    assert answer.language == language and answer.read_as is not None and answer.read_as != typed
    assert any(is_hit(result.text, answers) for result in answer.results), [r.text[:80] for r in answer.results]
    assert assistant.ask("Is sex work legal in Kazakhstan?", 1).read_as is None
