import pytest

from assistant.errors import QuestionError


def top_texts(assistant, question: str, k: int = 3) -> list[str]:
    return [r.text for r in assistant.ask(question, k).results]


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("When was sex work decriminalised in Kazakhstan?", "decriminalised in Kazakhstan in 2001"),
        ("How many friendly cabinets exist?", "33 friendly cabinets"),
        ("Who signed the 2024 law on human trafficking?", "Kassym-Jomart Tokayev"),
        ("Where can a migrant without propiska get an HIV test?", "propiska"),
        ("What is subotnik?", "subotnik"),
    ],
)
def test_real_questions_find_their_answer_in_the_top_three(assistant, question, answer):
    assert any(answer in text for text in top_texts(assistant, question))


def test_answer_object_is_ranked_cited_and_highlighted(assistant, index):
    answer = assistant.ask("How many friendly cabinets offer HIV prevention services?", 5)
    assert [r.rank for r in answer.results] == [1, 2, 3, 4, 5]
    # Scores are relevance; with no source newer than another among them, they are the order.
    assert [r.score for r in answer.results] == sorted((r.score for r in answer.results), reverse=True)
    for result in answer.results:
        document = index.documents[result.citation.doc_id]
        assert result.text == document.text[result.citation.start : result.citation.end]
        assert 0 <= result.highlight.start < result.highlight.end <= len(result.text)
        assert result.citation.title == document.metadata.title


def test_off_topic_question_abstains_but_still_lists_the_nearest_passages(assistant):
    answer = assistant.ask("What is a good recipe for chocolate cake?", 3)
    assert answer.abstained
    assert len(answer.results) == 3


@pytest.mark.parametrize("question", ["", "   \n\t ", "x" * 1001, "what\x00is this"])
def test_bad_questions_are_refused_with_a_message(assistant, question):
    with pytest.raises(QuestionError):
        assistant.ask(question)


@pytest.mark.parametrize("k", [0, 51, -1, True, "3"])
def test_k_out_of_range_is_refused(assistant, k):
    with pytest.raises(QuestionError, match="k must be"):
        assistant.ask("HIV testing", k)


@pytest.mark.parametrize(
    "question",
    ["How do I cook beshbarmak with lamb?", "Is prostitution legal in Germany?", "What did the 2019 labour code reform change?"],
)
def test_out_of_scope_questions_abstain_with_a_reason(assistant, question):
    answer = assistant.ask(question, 3)
    assert answer.abstained and answer.abstain_reason
    assert answer.results  # the nearest passages are still listed


def test_a_question_the_sources_answer_differently_over_time_shows_the_span(assistant):
    answer = assistant.ask("Is sex work criminalised in Kazakhstan?", 5)
    assert answer.sources_span is not None
    oldest, newest = answer.sources_span
    assert newest - oldest > 5
    assert {oldest, newest} <= {r.citation.year for r in answer.results}


def test_a_fact_told_by_two_documents_is_shown_once_with_also_in(assistant):
    answer = assistant.ask("Was sex work decriminalised in Kazakhstan?", 5)
    folded = [(r.citation.doc_id, c.doc_id) for r in answer.results for c in r.also_in]
    assert folded and all(main != other for main, other in folded)
    shown = [(r.citation.doc_id, r.citation.start) for r in answer.results]
    hidden = [(c.doc_id, c.start) for r in answer.results for c in r.also_in]
    assert not set(shown) & set(hidden)
