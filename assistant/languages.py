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
    prefix_letters: int | None = None
    """Without a stemmer, its lexical tokens are its words cut to this many letters (None: whole)."""
    latin_typing: LatinTyping | None = None
    """How people type it in Latin letters, for a language written in another script."""


@dataclass(frozen=True)
class LatinTyping:
    """How people type a Cyrillic language in Latin letters on a phone without its keyboard
    ("legalna li prostitutsiya", "qazaqstanda zhezokshelik qylmys pa"): its letters as typed, read
    longest spelling first, and the short words that tell such a text from English.

    Written here rather than taken from a library: transliterate and cyrtranslit (PyPI) each read
    one standard romanisation, and misread what people type ("prostitutsiya" -> "проститутсия",
    "kazakhstan" -> "казакхстан", "policiya" -> "поликия", "4to"); neither reads Kazakh."""

    spellings: dict[str, str]
    """Latin spelling -> its Cyrillic letters ("zh" -> "ж"); the longest spelling that fits is read."""
    words: frozenset[str]
    """Its function words as typed in Latin letters ("li", "mozhno", "qalai", "ma")."""
    telling: re.Pattern[str] | None = None
    """Spellings only it uses among the Latin-typed languages (Kazakh's Latin "ǵ ń ı ý", and
    "q" not before "u"): a word typed with one counts as one of `words`."""
    endings: tuple[str, ...] = ()
    """Word endings as typed in Latin letters that English words do not have ("-iya", "-ykh"):
    each word with one counts as one of `words`."""
    after_vowel: dict[str, str] = field(default_factory=dict)
    """Spellings read otherwise after a vowel and before a consonant or the word's end ("y" -> "й"
    in "moy", "ы" in "byt"; "i" -> "й" in "kalai", "и" in "policii")."""
    before_front_vowel: dict[str, str] = field(default_factory=dict)
    """Spellings read otherwise before e, i or y ("c" -> "ц" in "policiya", "к" in "klinika")."""

    def cyrillic(self, word: str) -> str:
        """One lower-cased word in this language's letters."""
        out: list[str] = []
        i, longest = 0, max(map(len, self.spellings))
        while i < len(word):
            for size in range(min(longest, len(word) - i), 0, -1):
                piece = word[i : i + size]
                if piece in self.spellings:
                    if size == 1 and piece in self.after_vowel and i and word[i - 1] in _LATIN_VOWELS - {piece} \
                            and word[i + 1 : i + 2] not in _LATIN_VOWELS:
                        out.append(self.after_vowel[piece])
                    elif size == 1 and word[i + 1 : i + 2] in ("e", "i", "y") and piece in self.before_front_vowel:
                        out.append(self.before_front_vowel[piece])
                    else:
                        out.append(self.spellings[piece])
                    i += size
                    break
            else:
                out.append(word[i])
                i += 1
        return "".join(out)


_LATIN_VOWELS = frozenset("aeiouyáäéíóöúüıý")
_RUSSIAN_LATIN = LatinTyping(
    spellings={
        "shch": "щ", "sch": "щ", "zh": "ж", "kh": "х", "ts": "ц", "tz": "ц", "ch": "ч", "sh": "ш", "ya": "я", "ja": "я",
        "yu": "ю", "ju": "ю", "yo": "ё", "jo": "ё", "ye": "е", "a": "а", "b": "б", "v": "в", "g": "г", "d": "д",
        "e": "е", "z": "з", "i": "и", "y": "ы", "j": "й", "k": "к", "l": "л", "m": "м", "n": "н", "o": "о", "p": "п",
        "r": "р", "s": "с", "t": "т", "u": "у", "f": "ф", "h": "х", "x": "х", "c": "к", "q": "к", "w": "ш", "4": "ч",
        "'": "ь", "’": "ь",
    },
    after_vowel={"y": "й", "i": "й"},
    before_front_vowel={"c": "ц"},
    words=frozenset(
        """
        li ne chto 4to shto kak eto mozhno mojno nelzya skolko skoka kogda gde kuda esli menya mne ya za po ot bez pri
        ili est nado nuzhno budet tolko uzhe seychas sejchas shas schas chem dlya pochemu zachem kakoy kakoi kakaya
        kakie kto ih ego ee vse vsyo tozhe mogut mogu chto-to teper seichas sdelat delat pomoch pomogut byt bylo
        ktoto nas vas im kotoryy kotorye mozhet esli nu che chyo shtraf zakon menty musora prostitutsiya v s k iz
        pro tam god goda let dayut dali daet lyudei lyudey zhivut chelovek rabota rabotat rabotayu devushka devushki
        devushku sait nomer tuda syuda zdes tut pogoda
        """.split()
    ),
    endings=("iya", "iyu", "ogo", "ykh", "yh", "yy", "aya", "uyu", "yut", "ayut", "eniya", "yei", "stvo", "nyi", "nyy",
             "ami", "tsya", "ym"),
)
_KAZAKH_LATIN = LatinTyping(
    spellings={
        "sh": "ш", "zh": "ж", "ch": "ч", "gh": "ғ", "ng": "ң", "kh": "х", "ya": "я", "yu": "ю", "ts": "ц", "a": "а",
        "á": "ә", "ä": "ә", "b": "б", "v": "в", "g": "г", "ǵ": "ғ", "ğ": "ғ", "d": "д", "e": "е", "j": "ж", "z": "з",
        "i": "и", "ı": "и", "y": "ы", "k": "к", "q": "қ", "l": "л", "m": "м", "n": "н", "ń": "ң", "ñ": "ң", "o": "о",
        "ó": "ө", "ö": "ө", "p": "п", "r": "р", "s": "с", "ş": "ш", "t": "т", "u": "у", "ú": "ү", "ü": "ү", "w": "у",
        "ý": "у",
        "f": "ф", "h": "х", "x": "х", "c": "ц", "ç": "ч", "'": "", "’": "",
    },
    after_vowel={"y": "й", "i": "й", "ı": "й"},
    telling=re.compile(r"[ǵńıý]|q(?!u)"),
    endings=("ynda", "inde", "ında", "dagy", "degi", "tagy", "lyq", "dyq", "tyq", "lyk", "shelik", "ghan", "lygy",
             "ligi"),
    words=frozenset(
        """
        ma me ba be pa pe qalai kalai qalay kalay qansha kansha qandai kandai qandaı qaida kaida qaıda qashan kashan
        neshe ushin úshin zhane jane jáne bolady bola kerek zhoq zhok jok joq turaly boiynsha boyynsha
        qazir kazir sizdin menin maghan magan osy bul degen dep emes eken kim qai kai zhezokshe jezokshe
        zhezokshelik jezokshelik qylmys kylmys zan zañ zań tegin adam saudasy keiin keyin deiin dein zhasau jasau
        bolsa kezde qaitem kaitem den dan ten tan nan nen bastap arasynda bap
        """.split()
    ),
)


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
    бар ма неше қай кай арқылы аркылы қазір казир енді не үшін тегін тегин жылы жылғы дейін дейин нешеге
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
                     folding=str.maketrans("ё", "е"), latin_typing=_RUSSIAN_LATIN),
        # Kazakh has no stemmer in PyStemmer or bm25s: its tokens are its words with its own
        # letters folded to the Russian ones people type instead (so "қылмыс" and "кылмыс" match),
        # cut to their first five letters (BM25 Hit@1 on KazQAD as issue 24 measured it: whole
        # words 0.361, hunspell-kk 0.386, Apertium's analyser 0.410, five letters 0.435; this
        # tokenizer's figures on KazQAD are in eval/beir_report.md).
        LanguageSpec("kk", "Қазақша", "cyrillic", None, lambda: KAZAKH_STOPWORDS,
                     letters=frozenset("әғқңөұүһі"), words=_KAZAKH_WORDS,
                     folding=str.maketrans("әғқңөұүһі", "агкноуухи"),
                     plain_letters=str.maketrans("әғқңөұүһі", "агкноуухи"), prefix_letters=5,
                     latin_typing=_KAZAKH_LATIN),
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


def detect_language(text: str, default: Language = "en", *, latin_typing: bool = True) -> Language:
    """The language of most letters' script: one of the script's other languages when the text has
    its own letters or words, else (`latin_typing`) a language of another script typed in Latin
    letters (`typed_in_latin`), else the script's default; `default` when there are no letters."""
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
    if script == "latin" and latin_typing:
        return typed_in_latin(text) or _script_default(script).code
    return _script_default(script).code


def typed_in_latin(text: str) -> Language | None:
    """The language of another script a Latin-letter text is typed in ("mozhno li sdelat test"
    is Russian), or None: the one whose Latin-typed words (`LatinTyping.words`) outnumber the
    English stop words (a word of both lists counts for neither), at least two of them, or one and
    no English one. A word with the language's own spellings (`LatinTyping.telling`: Kazakh "q"
    not before "u") counts as one of its words."""
    lowered = text.lower()
    words = _LATIN_TYPED_WORD.findall(lowered)
    # Words as people type them (all small letters, or a capital first), not symbols ("RecQ", "6q21", "Q").
    plain = {word.lower() for word in _WORD.findall(text) if len(word) > 2 and (word.islower() or word.istitle())}
    english = _script_default("latin").stopwords()
    typed = frozenset().union(*(spec.latin_typing.words for spec in REGISTRY.values() if spec.latin_typing))
    english_count = sum(word in english and word not in typed for word in words)
    best: tuple[int, Language] | None = None
    for spec in REGISTRY.values():
        typing = spec.latin_typing
        if typing is None:
            continue
        count = sum((word in typing.words and word not in english) or (len(word) > 4 and word.endswith(typing.endings))
                    or (typing.telling is not None and word in plain and bool(typing.telling.search(word)))
                    for word in words)
        if count > english_count and (count >= 2 or english_count == 0) and (best is None or count > best[0]):
            best = (count, spec.code)
    return best[1] if best else None


_LATIN_TYPED_WORD = re.compile(r"[a-z\u00c0-\u024f4'’]*[a-z\u00c0-\u024f][a-z\u00c0-\u024f4'’-]*", re.IGNORECASE)


def read_question(text: str, *, latin_typing: bool = True) -> tuple[Language, str]:
    """A question's language and its text as it is searched: in its language's own letters when it
    was typed in Latin ones (`latin_typing`: else as asked). What `Understand` and the coverage
    check both read."""
    language = detect_language(text, latin_typing=latin_typing)
    return language, in_own_letters(text, language) if latin_typing else text


def in_own_letters(text: str, language: Language) -> str:
    """`text` with its Latin-letter words written in `language`'s own script when people type
    that language in Latin letters ("legalna li prostitutsiya" -> "легална ли проституция": close
    enough for the model and the stemmer, though a soft sign left out stays out);
    unchanged otherwise, and in a text mostly in its own letters. Acronyms in capitals ("HIV",
    "UNAIDS") stay as written."""
    typing = REGISTRY[language].latin_typing
    if typing is None or len(SCRIPTS["latin"].findall(text)) <= len(SCRIPTS["cyrillic"].findall(text)):
        return text  # written in its own letters: a Latin word in it is a name ("PrEP", "Health and Human Rights")

    def read(match: re.Match[str]) -> str:
        word = match.group(0)
        if len(word) > 1 and word.isupper():
            return word
        return typing.cyrillic(word.lower())

    return _LATIN_TYPED_WORD.sub(read, text)
