"""The language registry: every language the assistant reads, answers in and speaks, in one place.

A language is its code (ISO 639-1), its own name (as the interface lists it), its script, its
Snowball stemmer (None: words kept whole), its stop words, and what tells it from the other
languages of its script. Detection (`detect_language`) and lexical tokens (`text/tokens.py`) read
this table; the interface's catalogues (`assistant/locale/<code>/`), the glossary's tables and the
time and question cues are per code. A fourth language is one `LanguageSpec` here plus its catalogue,
glossary table and cues.

The three of today have telling scripts: English is written in Latin letters, Russian and Kazakh in
Cyrillic, and Kazakh has nine letters Russian lacks (ә ғ қ ң ө ұ ү һ і). People who type Kazakh
on a Russian keyboard replace those letters ("канша" for "қанша"), so a Cyrillic text without them
is still Kazakh when it uses Kazakh words no Russian text has ("канша", "калай", "бойынша",
question particles "ма/ме/ба/бе/па/пе"). `tests/text/test_languages.py` holds the rule to every
gold question's `lang`. A statistical detector (lingua, fastText) would cost a model for a choice
that scripts and a short word list already make.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

Language = Literal["en", "ru", "kk"]
Script = Literal["latin", "cyrillic"]

SCRIPTS: dict[Script, re.Pattern[str]] = {"latin": re.compile(r"[A-Za-z]"), "cyrillic": re.compile(r"[\u0400-\u04FF]")}
"""The letters of each script that detection counts."""


@dataclass(frozen=True)
class LanguageSpec:
    code: Language
    name: str
    """The language's own name, as the interface's language menu shows it."""
    script: Script
    stemmer: str | None
    """PyStemmer's (Snowball) name for its stemmer; None keeps words whole."""
    stopwords: Callable[[], frozenset[str]]
    """Its stop words (loaded on first use)."""
    script_default: bool = False
    """What a word in this script is taken for when the text's own language is not known."""
    letters: frozenset[str] = frozenset()
    """Letters only it has among the languages of its script."""
    words: frozenset[str] = frozenset()
    """Words only it uses among the languages of its script (as typed with or without `letters`)."""
    folding: dict[int, int] = field(default_factory=dict)
    """Letters read as others before stop words and stemming (`str.translate` table)."""
    plain_letters: dict[int, int] = field(default_factory=dict)
    """Its own letters as people type them on another language's keyboard ("қылмыс" as "кылмыс"):
    a `str.translate` table that rules written in its letters read typed text through."""


QUESTION_STOPWORDS = frozenset("many much could would since also get tell".split())
"""Words of English questions that carry no topic ("how many", "could I"), beyond the usual stop words."""

KAZAKH_STOPWORDS = frozenset(
    """
    және мен пен бен да де та те ма ме ба бе па пе бұл осы сол ол не неге қалай қандай қанша қай кім бар жоқ
    үшін туралы бойынша арқылы деген деп бола болады болған керек мені менің маған сен сіз біз олар ғана әлі
    енді қазір бір бірақ немесе егер қайда қашан қайдан кейін дейін калай канша кандай кайда ушин жане
    """.split()
)
"""Kazakh function words (and a few as typed without Kazakh letters)."""

_KAZAKH_WORDS = frozenset(
    """
    ма ме ба бе па пе қалай калай қанша канша қандай кандай қайда кайда қашан кашан қайдан кайдан неге
    үшін ушин бойынша туралы және жане жоқ жок керек болады бола болған деген деп айтады кейін мен мені
    бар ма неше қай кай арқылы аркылы қазір казир енді не үшін тегін тегин жылы жылғы
    """.split()
) - {"не", "мен", "бар"}
"""Words of Kazakh (also as typed without its own letters) that Russian does not use."""


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


REGISTRY: dict[Language, LanguageSpec] = {
    spec.code: spec
    for spec in (
        LanguageSpec("en", "English", "latin", "english", _english_stopwords, script_default=True),
        LanguageSpec("ru", "Русский", "cyrillic", "russian", russian_stopwords, script_default=True,
                     folding=str.maketrans("ё", "е")),
        # Kazakh has no stemmer in PyStemmer or bm25s: its words are kept whole (with only English
        # documents in the collection a Kazakh word matches only through the glossary, whose Kazakh
        # keys match word beginnings, so a suffix rule would change no score).
        LanguageSpec("kk", "Қазақша", "cyrillic", None, lambda: KAZAKH_STOPWORDS,
                     letters=frozenset("әғқңөұүһі"), words=_KAZAKH_WORDS,
                     plain_letters=str.maketrans("әғқңөұүһі", "агкноуухи")),
    )
}
LANGUAGES: tuple[Language, ...] = tuple(REGISTRY)
LANGUAGE_NAMES: dict[str, str] = {code: spec.name for code, spec in REGISTRY.items()}
KAZAKH_LETTERS = REGISTRY["kk"].letters
_WORD = re.compile(r"[^\W\d_]+")


def typed_plainly(text: str, language: str) -> str:
    """`text` as typed without `language`'s own letters ("қылмыс" -> "кылмыс"; other languages'
    text unchanged), so that rules written in its letters also read what people type."""
    spec = REGISTRY.get(language)  # type: ignore[call-overload]  # any string may name no language
    return text.translate(spec.plain_letters) if spec else text


def script_of(word: str) -> Script:
    """The script a word is written in: Cyrillic when it has a Cyrillic letter, else Latin."""
    return "cyrillic" if SCRIPTS["cyrillic"].search(word) else "latin"


def is_cyrillic(word: str) -> bool:
    """Whether a word is written in Cyrillic letters."""
    return script_of(word) == "cyrillic"


def _script_default(script: Script) -> LanguageSpec:
    return next(spec for spec in REGISTRY.values() if spec.script == script and spec.script_default)


def script_language(script: Script, text_language: str | None = None) -> LanguageSpec:
    """The language a word in `script` is read in: the text's, when it is written in that script;
    else the script's default (an English word in a Kazakh text, a Russian one in English)."""
    known = REGISTRY.get(text_language) if text_language else None  # type: ignore[call-overload]
    return known if known is not None and known.script == script else _script_default(script)


def detect_language(text: str, default: Language = "en") -> Language:
    """The language of most letters' script: one of the script's other languages when the text has
    its own letters or words, else the script's default; `default` when there are no letters."""
    counts = {script: len(pattern.findall(text)) for script, pattern in SCRIPTS.items()}
    if not any(counts.values()):
        return default
    script: Script = "latin" if counts["latin"] > counts["cyrillic"] else "cyrillic"
    lowered = text.lower()
    others = [spec for spec in REGISTRY.values() if spec.script == script and not spec.script_default]
    for spec in others:
        if spec.letters & set(lowered):
            return spec.code
    words = set(_WORD.findall(lowered))
    for spec in others:
        if spec.words & words:
            return spec.code
    return _script_default(script).code
