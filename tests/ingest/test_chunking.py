import pytest
from conftest import CORPUS

from assistant.ingest.chunking import chunk_document, split_sentences
from assistant.ingest.corpus import load_corpus, load_document
from assistant.settings import Settings

LIMITS = Settings().extraction_limits


@pytest.fixture(scope="module")
def documents():
    return load_corpus(CORPUS, LIMITS)


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def test_every_passage_is_an_exact_slice_of_its_served_document(index):
    for passage in index.passages:
        document = index.documents[passage.doc_id]
        assert passage.text == document.text[passage.start : passage.end]
        for start, end in passage.sentences:
            assert 0 <= start < end <= len(passage.text)


def test_passages_follow_the_report_card_sections(index):
    sections = {p.section for p in index.passages if p.doc_id == "ippf-2012-hiv-prevention-report-card"}
    assert "PREVENTION COMPONENT 2 / AVAILABILITY OF SERVICES / KEY POINTS" in sections
    assert "PREVENTION COMPONENT 5 / VIOLENCE / QUOTES AND ISSUES" in sections
    assert "KEY RECOMMENDATIONS" in sections
    cabinets = next(p for p in index.passages if "33 friendly cabinets" in p.text)
    assert cabinets.section == "PREVENTION COMPONENT 2 / AVAILABILITY OF SERVICES / KEY POINTS"


def test_a_quote_keeps_its_attribution(index):
    passage = next(p for p in index.passages if "We are interested in legalization of sex work" in p.text)
    assert "(Interview with the Director of “Kovcheg”)" in passage.text


def test_the_one_paragraph_per_line_article_is_split_into_paragraph_passages(index):
    article = [p for p in index.passages if p.doc_id == "neglobal-2024-trafficking-law"]
    assert len(article) >= 6
    assert any(p.text.startswith("On July 5, 2024, President Kassym-Jomart Tokayev") for p in article)


def test_passage_sizes_respect_the_settings(documents):
    for document in documents:
        for passage in chunk_document(document, target_chars=300, max_chars=500):
            assert len(passage.text) <= 500


def test_a_text_without_sentence_punctuation_is_cut_at_word_boundaries(tmp_path):
    """Issue 28: with no full stop to cut at, a paragraph was one passage (29,443 characters in the
    issue's case). Now no passage is longer than the maximum, each ends at a word's end (but for a
    "word" longer than the maximum), and together they hold all of the text in order."""
    words = " ".join(f"outreach{i % 97} workers visited saunas and hotels in almaty" for i in range(600))
    path = tmp_path / "unpunctuated.txt"
    path.write_text(f"Unpunctuated notes\n\n{words}\n\n{'x' * 2500} tail\n", encoding="utf-8")
    document = load_document(path, LIMITS)
    assert len(words) > 29_443
    passages = chunk_document(document, target_chars=200, max_chars=1000)
    assert max(len(p.text) for p in passages) == 1000
    assert all(p.text == document.text[p.start : p.end] and p.text == p.text.strip() for p in passages)
    ends = [p.end for p in passages if p.end < len(document.text)]
    assert all(document.text[end].isspace() for end in ends if not document.text[end - 1] == "x")
    assert "".join(p.text for p in passages).replace(" ", "") == document.text.replace(" ", "").replace("\n", "")
    assert ["x" * 1000, "x" * 1000, "x" * 500 + " tail"] == [p.text for p in passages[-3:]]


def test_sentence_splitting_handles_abbreviations_footnotes_and_quotes():
    assert sentences("Police abuse (e.g. extortion, raids) is common. Dr. Smith agrees.") == [
        "Police abuse (e.g. extortion, raids) is common.",
        "Dr. Smith agrees.",
    ]
    assert sentences("Provisions apply (Art.270 Engagement, and Art.271 Organization). They matter.") == [
        "Provisions apply (Art.270 Engagement, and Art.271 Organization).",
        "They matter.",
    ]
    assert sentences("Sex workers have limited access to services.28 Undocumented migrants cannot.") == [
        "Sex workers have limited access to services.28",
        "Undocumented migrants cannot.",
    ]
    assert sentences("Life expectancy at birth (2011): 69.012 and rising. Next.") == [
        "Life expectancy at birth (2011): 69.012 and rising.",
        "Next.",
    ]
    assert sentences("• “We feel discrimination. But we know it.” (Focus group discussion, Kazakhstan)") == [
        "• “We feel discrimination.",
        "But we know it.” (Focus group discussion, Kazakhstan)",
    ]
    assert sentences("• First bullet.\n\n• Second bullet") == ["• First bullet.", "• Second bullet"]
