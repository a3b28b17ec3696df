import numpy as np

from assistant.answer.abstain import abstain_reason
from assistant.answer.highlight import choose_highlight, sentence_scores
from assistant.answer.model import Citation, Highlight, Result
from assistant.answer.timeline import sources_span
from assistant.ingest.chunking import Passage, split_sentences
from assistant.text.tokens import tokenize


def make_passage(text: str) -> Passage:
    return Passage(0, "doc", None, 0, len(text), text, tuple(split_sentences(text)))


def test_highlight_is_the_sentence_that_answers(embedder):
    passage = make_passage(
        "Sex workers are a highly mobile group. Nationwide, there are 33 friendly cabinets and 22 AIDS centres. "
        "Substitution therapy is available only in three pilot sites."
    )
    question = "How many friendly cabinets are there?"
    sentence_vectors = embedder.encode_passages([passage.text[s:e] for s, e in passage.sentences])
    tokens = [frozenset(tokenize(passage.text[s:e])) for s, e in passage.sentences]
    scores = sentence_scores(sentence_vectors, embedder.encode_queries([question])[0], tokens, set(tokenize(question)))
    highlight = choose_highlight(passage, scores)
    assert passage.text[highlight.start : highlight.end] == "Nationwide, there are 33 friendly cabinets and 22 AIDS centres."


def test_highlight_of_a_passage_without_sentences_is_the_whole_passage():
    passage = Passage(0, "doc", None, 0, 4, "text", ())
    highlight = choose_highlight(passage, np.zeros(0, np.float32))
    assert (highlight.start, highlight.end) == (0, 4)


def test_abstain_when_evidence_is_weak_or_the_question_names_what_no_document_mentions():
    assert abstain_reason(0.2, [], min_evidence=0.3) == "no passage is close enough to the question"
    assert abstain_reason(0.8, ["germany"], min_evidence=0.3) == "the documents do not mention germany"
    assert abstain_reason(0.5, [], min_evidence=0.3) is None


def result_from(year: int | None) -> Result:
    citation = Citation(doc_id="d", title="t", publisher=None, date=None, year=year, url=None, start=0, end=1)
    return Result(rank=1, score=1.0, text="x", highlight=Highlight(start=0, end=1), citation=citation)


def test_sources_span_only_when_years_lie_more_than_the_limit_apart():
    assert sources_span([result_from(2012), result_from(2025), result_from(None)], 5) == [2012, 2025]
    assert sources_span([result_from(2012), result_from(2015)], 5) is None
    assert sources_span([result_from(None)], 5) is None
