import numpy as np

from assistant.answer import choose_highlight, should_abstain
from assistant.chunking import Passage, split_sentences
from assistant.search import tokenize


def make_passage(text: str) -> Passage:
    return Passage(0, "doc", None, 0, len(text), text, tuple(split_sentences(text)))


def test_highlight_is_the_sentence_that_answers(embedder):
    passage = make_passage(
        "Sex workers are a highly mobile group. Nationwide, there are 33 friendly cabinets and 22 AIDS centres. "
        "Substitution therapy is available only in three pilot sites."
    )
    question = "How many friendly cabinets are there?"
    sentence_vectors = embedder.encode([passage.text[s:e] for s, e in passage.sentences])
    highlight = choose_highlight(passage, sentence_vectors, embedder.encode([question])[0], set(tokenize(question)))
    assert passage.text[highlight.start : highlight.end] == "Nationwide, there are 33 friendly cabinets and 22 AIDS centres."


def test_highlight_of_a_passage_without_sentences_is_the_whole_passage():
    passage = Passage(0, "doc", None, 0, 4, "text", ())
    highlight = choose_highlight(passage, np.zeros((0, 384), np.float32), np.zeros(384, np.float32), set())
    assert (highlight.start, highlight.end) == (0, 4)


def test_abstain_only_when_both_meaning_and_words_are_far():
    assert should_abstain(0.2, 0.0, max_similarity=0.35, min_coverage=0.5)
    assert not should_abstain(0.5, 0.0, max_similarity=0.35, min_coverage=0.5)
    assert not should_abstain(0.2, 0.8, max_similarity=0.35, min_coverage=0.5)
