"""Lexical tokens of text for BM25, in every language of the registry (`assistant/languages.py`).

Each word is read in a language chosen by its script (`languages.script_language`): the text's own
language when the word is in its script, else that script's default (Latin words are English,
Cyrillic words Russian unless the text is Kazakh). Then the language's letter folding (Russian
ё read as е; Kazakh ә ғ қ ң ө ұ ү һ і read as the Russian letters people type for them), its stop
words, and its Snowball stemmer or, where it has none, its words cut to `prefix_letters` (Kazakh:
five), the same on the question's side and the passages'.
"""

from __future__ import annotations

import re
from functools import lru_cache

from assistant.languages import REGISTRY, SCRIPTS, LanguageSpec, Script, script_language, script_of

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")


@lru_cache(maxsize=8)
def _stemmer(name: str):
    import Stemmer

    return Stemmer.Stemmer(name)


@lru_cache(maxsize=8)
def _stopwords(code: str) -> frozenset[str]:
    """A language's stop words, folded as its words are."""
    spec = REGISTRY[code]  # type: ignore[index]
    return frozenset(word.translate(spec.folding) for word in spec.stopwords()) if spec.folding else spec.stopwords()


def _token(spec: LanguageSpec, stopwords: frozenset[str], word: str) -> str | None:
    """A lower-cased word's token in `spec`'s language, None for a stop word."""
    if spec.folding:
        word = word.translate(spec.folding)
    if word in stopwords:
        return None
    if spec.stemmer:
        return _stemmer(spec.stemmer).stemWord(word)
    return word[: spec.prefix_letters] if spec.prefix_letters else word


def tokenize(text: str, language: str | None = None) -> list[str]:
    """Lower-cased, stemmed words without stop words, in order. Letters and digits glued together
    by a PDF ("persons9", "Art.270") are split, so a footnote number never hides a word.
    `language` is the text's language when known (for "kk", Cyrillic words are Kazakh)."""
    words = _TOKEN.findall(_LETTER_DIGIT.sub(" ", text.lower()))
    specs: dict[Script, tuple[LanguageSpec, frozenset[str]]] = {}
    for script in SCRIPTS:
        spec = script_language(script, language)
        specs[script] = (spec, _stopwords(spec.code) if spec.code in REGISTRY else spec.stopwords())
    tokens: list[str] = []
    for word in words:
        spec, stopwords = specs[script_of(word)]
        token = _token(spec, stopwords, word)
        if token is not None:
            tokens.append(token)
    return tokens


def stem(word: str, language: str) -> str:
    """One word's stem in `language` (lower-cased, folded; kept whole where it has no stemmer)."""
    spec = REGISTRY[language]  # type: ignore[index]
    return _token(spec, frozenset(), word.lower()) or ""


def russian_stem(word: str) -> str:
    """The Snowball Russian stem of one lower-cased word (ё read as е)."""
    return stem(word, "ru")
