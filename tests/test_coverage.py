from assistant.coverage import CorpusCoverage

COMMON = frozenset({"capital", "central", "north"})


def coverage() -> CorpusCoverage:
    return CorpusCoverage.of_texts(["Sex workers in Almaty, Astana and Kyrgyzstan; in 2012 and 2024."], COMMON)


def test_places_and_years_no_document_mentions_are_found():
    assert coverage().unknown_terms("Is prostitution legal in Germany?") == ["Germany"]
    assert coverage().unknown_terms("HIV testing sites in Shymkent") == ["Shymkent"]
    assert coverage().unknown_terms("what changed in 2019?") == ["2019"]


def test_places_and_years_the_corpus_mentions_or_common_words_are_not():
    assert coverage().unknown_terms("sex workers from Kyrgyzstan in Almaty in 2012") == []
    assert coverage().unknown_terms("what about the capital, up north?") == []
