"""Lexical tokens of text for BM25, in English, Russian and Kazakh.

Each word is handled by its script: Latin words are English (Snowball English stemmer, bm25s's
longer English stop-word list), Cyrillic words Russian (Snowball Russian stemmer, bm25s's Russian
stop words, ё read as е) unless the text is Kazakh. Kazakh has no stemmer in PyStemmer or bm25s;
its words are kept whole, lower-cased, without a short list of function words: with only English
documents in the collection, a Kazakh word can match only through the glossary (whose Kazakh keys
match word beginnings, `glossary.py`), so a suffix rule would change no score; a Kazakh document
added later is matched word for word.
"""

from __future__ import annotations

import re
from functools import lru_cache

from assistant.text.languages import Language, is_cyrillic

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")

QUESTION_STOPWORDS = frozenset("many much could would since also get tell".split())
"""Words of questions that carry no topic ("how many", "could I"), beyond the usual stop words."""

KAZAKH_STOPWORDS = frozenset(
    """
    және мен пен бен да де та те ма ме ба бе па пе бұл осы сол ол не неге қалай қандай қанша қай кім бар жоқ
    үшін туралы бойынша арқылы деген деп бола болады болған керек мені менің маған сен сіз біз олар ғана әлі
    енді қазір бір бірақ немесе егер қайда қашан қайдан кейін дейін калай канша кандай кайда ушин жане
    """.split()
)
"""Kazakh function words (and a few as typed without Kazakh letters)."""


@lru_cache(maxsize=2)
def _stemmer(language: str):
    import Stemmer

    return Stemmer.Stemmer(language)


@lru_cache(maxsize=1)
def _english_stopwords() -> frozenset[str]:
    """bm25s's longer English list: with Lucene's 33 words, "how", "have" and "what" matched
    passages and outweighed the topic words (dev Hit@3 0.887 -> 0.925 with this list)."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS) | QUESTION_STOPWORDS


@lru_cache(maxsize=1)
def russian_stopwords() -> frozenset[str]:
    """bm25s's Russian stop words, ё read as е."""
    from bm25s.stopwords import STOPWORDS_RUSSIAN

    return frozenset(word.replace("ё", "е") for word in STOPWORDS_RUSSIAN)


def tokenize(text: str, language: Language | None = None) -> list[str]:
    """Lower-cased, stemmed words without stop words, in order. Letters and digits glued together
    by a PDF ("persons9", "Art.270") are split, so a footnote number never hides a word.
    `language` is the text's language when known: "kk" keeps Cyrillic words whole."""
    words = _TOKEN.findall(_LETTER_DIGIT.sub(" ", text.lower()))
    tokens: list[str] = []
    english, russian = _english_stopwords(), russian_stopwords()
    for word in words:
        if not is_cyrillic(word):
            if word not in english:
                tokens.append(_stemmer("english").stemWord(word))
        elif language == "kk":
            if word not in KAZAKH_STOPWORDS:
                tokens.append(word)
        else:
            word = word.replace("ё", "е")
            if word not in russian:
                tokens.append(_stemmer("russian").stemWord(word))
    return tokens


def russian_stem(word: str) -> str:
    """The Snowball Russian stem of one lower-cased word (ё read as е)."""
    return _stemmer("russian").stemWord(word.lower().replace("ё", "е"))
