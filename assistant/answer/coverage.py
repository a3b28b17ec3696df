"""What a question names that the corpus never mentions: a place or a year.

"Is prostitution legal in Germany?" is close in meaning to passages about Kazakhstan, so
similarity alone cannot tell that the documents do not cover it; that Germany appears nowhere
in them can. Places come from ISO 3166 (`pycountry`): country names, and region and city names
that are not also common English words (the English model's vocabulary stands in for a
dictionary, so "Central" or "Capital" never count as places), in English and, from pycountry's
own translations, in Russian and Kazakh ("Швеция", "Шымкент", "Ресей"), with a few everyday short
names pycountry lacks ("Россия", "США"). A place is known when the corpus mentions its English
name. Russian and Kazakh names are matched by word beginnings, so their inflections count
("в Швеции", "Шымкенттегі", "Ресейде").
"""

from __future__ import annotations

import gettext
import re
from dataclasses import dataclass
from functools import cached_property

from assistant.languages import KAZAKH_LETTERS, KAZAKH_STOPWORDS, LANGUAGES, russian_stopwords
from assistant.text.tokens import russian_stem

_WORDS = re.compile(r"[^\W_]+")
_YEAR = re.compile(r"(?<!\d)(19\d\d|20\d\d)(?!\d)")
_SHORTEST_STEM = 5
"""A name word's stem shorter than this must match a whole word ("Того" is no prefix of anything)."""
_LONGEST_ENDING = 6

EVERYDAY_NAMES = {
    "Russian Federation": ["Russia", "Россия", "Ресей"],
    "United States": ["USA", "America", "США", "Америка", "АҚШ"],
    "United Kingdom": ["UK", "Britain", "England", "Великобритания", "Британия", "Англия", "Ұлыбритания"],
    "Türkiye": ["Turkey", "Турция", "Түркия"],
    "Korea, Republic of": ["South Korea", "Южная Корея", "Корея", "Оңтүстік Корея"],
    "Iran, Islamic Republic of": ["Iran", "Иран"],
    "Moldova, Republic of": ["Moldova", "Молдова", "Молдавия"],
    "Czechia": ["Czech Republic", "Чехия"],
}
"""Short names people use that pycountry leaves out, by pycountry's English name."""

KAZAKH_COMMON_WORDS = frozenset({"жер"})
"""Kazakh words that are also the name of a far-away place in pycountry (жер, "earth, place",
is the French département Gers)."""


def _words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def _translations(domain: str, language: str):
    import pycountry

    try:
        return gettext.translation(domain, pycountry.LOCALES_DIR, languages=[language])
    except OSError:
        return gettext.NullTranslations()


def places(common_words: frozenset[str]) -> dict[str, set[str]]:
    """English place name -> its names in English, Russian and Kazakh."""
    import pycountry

    names: dict[str, set[str]] = {}
    countries = {lang: _translations("iso3166-1", lang) for lang in LANGUAGES if lang != "en"}
    regions = {lang: _translations("iso3166-2", lang) for lang in LANGUAGES if lang != "en"}
    for country in pycountry.countries:
        given = [getattr(country, attribute, None) for attribute in ("name", "common_name", "official_name")]
        english = [value for value in given if isinstance(value, str) and value and "," not in value]
        if not english:
            continue
        found = names.setdefault(english[0], set(english))
        found.update(translation.gettext(country.name) for translation in countries.values())
        found.update(EVERYDAY_NAMES.get(country.name, []))
    for subdivision in pycountry.subdivisions:
        name = subdivision.name
        if len(name) >= 4 and name.lower() not in common_words and not re.search(r"[\d(,]", name):
            found = names.setdefault(name, {name})
            found.update(translation.gettext(name) for translation in regions.values())
    return {english: {name for name in found if name} for english, found in names.items()}


def _cyrillic_key(word: str) -> tuple[str, str, bool]:
    """What a Russian or Kazakh place-name word must match: (its word, its Russian stem, whether a
    question word may merely begin with the stem). A long stem may ("германи" -> "Германии",
    "Германияда"); a short one must be followed by a case ending, or the word by a Kazakh one
    ("швец" + "ии", "ресей" + "де"; "ақш" + "а" is "ақша", money, not the USA)."""
    stem = russian_stem(word)
    return word, stem, len(stem) >= _SHORTEST_STEM


@dataclass
class CorpusCoverage:
    corpus_words: frozenset[str]
    common_words: frozenset[str] = frozenset()
    corpus_text: str = ""
    """The corpus's words, lower-cased, one space apart (with a space at either end), so a
    multi-word name is looked up as a phrase."""

    @classmethod
    def of_texts(cls, texts, common_words: frozenset[str] = frozenset()) -> CorpusCoverage:
        words: set[str] = set()
        runs: list[str] = []
        for text in texts:
            found = _words(text)
            words.update(found)
            runs.append(" ".join(found))
        return cls(frozenset(words), common_words, " " + " | ".join(runs) + " ")

    def mentions(self, name: str) -> bool:
        """Whether the corpus has `name`, as a whole word or phrase."""
        return f" {' '.join(_words(name))} " in self.corpus_text

    @cached_property
    def _unknown(self) -> list[set[str]]:
        """The names of every place the corpus does not mention under any of its names
        ("Russian Federation" is unknown although "Russian" and "Federation" occur apart)."""
        return [found for found in places(self.common_words).values()
                if not any(self.mentions(name) for name in found if not re.search(r"[\u0400-\u04FF]", name))]

    @cached_property
    def _latin_names(self) -> dict[str, list[tuple[tuple[str, ...], str]]]:
        """Every Latin-script name of an unknown place as its words, by first word, longest first."""
        by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for names in self._unknown:
            for name in names:
                words = tuple(_words(name))
                if words and not re.search(r"[\u0400-\u04FF]", name):
                    by_first.setdefault(words[0], []).append((words, name))
        for found in by_first.values():
            found.sort(key=lambda item: -len(item[0]))
        return by_first

    @cached_property
    def _cyrillic_names(self) -> list[tuple[tuple[tuple[str, str, bool], ...], str]]:
        """(per word: what to match and whether as a beginning, name) of every Cyrillic name of an
        unknown place, longest first; names that are also Russian or Kazakh function words
        ("Того", "Об") are left out."""
        common = KAZAKH_STOPWORDS | russian_stopwords() | KAZAKH_COMMON_WORDS
        found = {name for names in self._unknown for name in names
                 if re.search(r"[\u0400-\u04FF]", name) and not set(_words(name)) <= common}
        keyed = [(tuple(_cyrillic_key(word) for word in _words(name)), name) for name in found if _words(name)]
        return sorted(keyed, key=lambda item: -len(item[0]))

    def unknown_terms(self, question: str) -> list[str]:
        """Places and years named in the question that no document mentions."""
        found = [year for year in _YEAR.findall(question) if year not in self.corpus_words]
        spans = [(match.group(0).lower(), match.start(), match.end()) for match in _WORDS.finditer(question)]
        words = [word for word, _, _ in spans]
        position = 0
        while position < len(words):
            step = 1
            for name_words, _ in self._latin_names.get(words[position], ()):
                if tuple(words[position : position + len(name_words)]) == name_words:
                    found.append(question[spans[position][1] : spans[position + len(name_words) - 1][2]])
                    step = len(name_words)
                    break
            position += step
        if any(re.search(r"[\u0400-\u04FF]", word) for word in words):
            found += self._cyrillic_places(words)
        return list(dict.fromkeys(found))

    @cached_property
    def _cyrillic_index(self) -> dict[str, list[tuple[tuple[tuple[str, str, bool], ...], str]]]:
        """The Cyrillic names by what a question word reveals of their first word: the first
        `_SHORTEST_STEM` letters of a long stem, or a short name's word and stem (a question word
        without its case ending gives one of them)."""
        index: dict[str, list[tuple[tuple[tuple[str, str, bool], ...], str]]] = {}
        for keys, name in self._cyrillic_names:
            word, stem, prefix = keys[0]
            for lookup in ({stem[:_SHORTEST_STEM]} if prefix else {word, stem}):
                index.setdefault(lookup, []).append((keys, name))
        return index

    def _cyrillic_places(self, words: list[str]) -> list[str]:
        found: list[str] = []
        for start, word in enumerate(words):
            lookups = {word[:_SHORTEST_STEM], word} | {word[: -len(ending)] for ending in _ENDINGS if word.endswith(ending)}
            for lookup in lookups:
                for keys, name in self._cyrillic_index.get(lookup, ()):
                    if name not in found and start + len(keys) <= len(words) and all(
                            _matches(words[start + i], key) for i, key in enumerate(keys)):
                        found.append(name)
        order = {name: position for position, (_, name) in enumerate(self._cyrillic_names)}
        return sorted(found, key=order.__getitem__)


_KAZAKH_ENDINGS = frozenset(
    """да де та те ға ге қа ке на не ны ні ды ді ты ті дан ден тан тен нан нен дың дің тың тің ның нің
    ғы гі дағы дегі тағы тегі""".split()
)
_RUSSIAN_ENDINGS = frozenset("а у е ом ой ю и ы ам ах ами ия ии ию ией ея ей ею".split())
_ENDINGS = _KAZAKH_ENDINGS | _RUSSIAN_ENDINGS
"""Case endings a short name may carry: Kazakh ones on any name ("Ресей" -> "Ресейде"), Russian
ones only on a name without Kazakh letters ("ақша", money, is not "АҚШ" + "а")."""


def _matches(word: str, key: tuple[str, str, bool]) -> bool:
    name, stem, prefix = key
    if prefix:
        return word.startswith(stem) and len(word) - len(stem) <= _LONGEST_ENDING
    if word == name:
        return True
    if word.startswith(name) and word[len(name):] in _KAZAKH_ENDINGS:
        return True
    return not KAZAKH_LETTERS & set(name) and word.startswith(stem) and word[len(stem):] in _RUSSIAN_ENDINGS
