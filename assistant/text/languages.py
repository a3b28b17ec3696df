"""Which language a question or a text is in: English, Russian or Kazakh.

The three have telling scripts: English is written in Latin letters, Russian and Kazakh in
Cyrillic, and Kazakh has nine letters Russian lacks (ә ғ қ ң ө ұ ү һ і). People who type Kazakh
on a Russian keyboard replace those letters ("канша" for "қанша"), so a Cyrillic text without them
is still Kazakh when it uses Kazakh words no Russian text has ("канша", "калай", "бойынша",
question particles "ма/ме/ба/бе/па/пе"). `assistant eval` measures the rule on the gold questions
(`tests/test_language.py` holds it to every gold question's `lang`).

A statistical detector (lingua, fastText) would cost a model for a choice that three scripts and
a short word list already make.
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["en", "ru", "kk"]
LANGUAGES: tuple[Language, ...] = ("en", "ru", "kk")

KAZAKH_LETTERS = frozenset("әғқңөұүһі")
_KAZAKH_WORDS = frozenset(
    """
    ма ме ба бе па пе қалай калай қанша канша қандай кандай қайда кайда қашан кашан қайдан кайдан неге
    үшін ушин бойынша туралы және жане жоқ жок керек болады бола болған деген деп айтады кейін мен мені
    бар ма неше қай кай арқылы аркылы қазір казир енді не үшін тегін тегин жылы жылғы
    """.split()
) - {"не", "мен", "бар"}
"""Words of Kazakh (also as typed without its own letters) that Russian does not use."""
_LATIN = re.compile(r"[A-Za-z]")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_WORD = re.compile(r"[^\W\d_]+")


def is_cyrillic(word: str) -> bool:
    """Whether a word is written in Cyrillic letters."""
    return bool(_CYRILLIC.search(word))


def detect_language(text: str, default: Language = "en") -> Language:
    """"ru" or "kk" when most letters are Cyrillic (Kazakh by its own letters or words), "en" when
    most are Latin, `default` when the text has no letters at all."""
    latin = len(_LATIN.findall(text))
    cyrillic = len(_CYRILLIC.findall(text))
    if not latin and not cyrillic:
        return default
    if latin > cyrillic:
        return "en"
    lowered = text.lower()
    if KAZAKH_LETTERS & set(lowered):
        return "kk"
    if any(word in _KAZAKH_WORDS for word in _WORD.findall(lowered)):
        return "kk"
    return "ru"
