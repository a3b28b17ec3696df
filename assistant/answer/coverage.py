"""What a question names that the corpus never mentions: a place or a year.

"Is prostitution legal in Germany?" is close in meaning to passages about Kazakhstan, so
similarity alone cannot tell that the documents do not cover it; that Germany appears nowhere
in them can. Places come from ISO 3166 (`pycountry`): country names, and region and city names
that are not also common English words (the English model's vocabulary stands in for a
dictionary, so "Central" or "Capital" never count as places), in English and, from pycountry's
own translations, in Russian and Kazakh ("Швеция", "Шымкент", "Германия"), with the everyday
names pycountry lacks ("Россия", "Ресей", "США"). A place is known when the corpus mentions its
English name.

A question word is looked up only among the names of its own language (`languages.script_language`:
a Latin word among the English names, a Cyrillic one among the question's Russian or Kazakh names),
in that language's inflections of the name: Russian case endings by the name's declension
("в Швеции", "Москвой"), Kazakh endings after the whole name ("Ресейде", "Шымкенттегі"). Matching
the inflections of a name rather than any word that begins like it is what keeps common words
out: "ала" ("take", Kazakh) is not a form of "Алье" (Allier, France), nor "находится" of "Наход"
(Náchod, Czechia). Kazakh questions are not read with the Russian names of regions and cities
(pycountry has no Kazakh ones): Kazakh names places its own way ("Мәскеу", not "Москва"), and
those names brought in "таза" (clean) as Taza, Morocco, and "пара" (a bribe) as Pará, Brazil.
A few names remain that are also common words of their language (`COMMON_WORD_NAMES`); they count
only where written as a proper noun. `tests/answer/test_coverage.py` holds all this to lists of
common Russian and Kazakh words (tests/answer/data/), to the corpus and to the gold questions.
"""

from __future__ import annotations

import gettext
import re
from dataclasses import dataclass
from functools import cached_property

from assistant.languages import REGISTRY, Language, read_question, script_language, script_of

_WORDS = re.compile(r"[^\W_]+")
_YEAR = re.compile(r"(?<!\d)(19\d\d|20\d\d)(?!\d)")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")

EVERYDAY_NAMES: dict[str, dict[Language, list[str]]] = {
    "Russian Federation": {"en": ["Russia"], "ru": ["Россия"], "kk": ["Ресей"]},
    "United States": {"en": ["USA", "America"], "ru": ["США", "Америка"], "kk": ["АҚШ", "Америка"]},
    "United Kingdom": {"en": ["UK", "Britain", "England"], "ru": ["Великобритания", "Британия", "Англия"],
                       "kk": ["Ұлыбритания", "Британия", "Англия"]},
    "Türkiye": {"en": ["Turkey"], "ru": ["Турция"], "kk": ["Түркия"]},
    "Korea, Republic of": {"en": ["South Korea"], "ru": ["Южная Корея", "Корея"], "kk": ["Оңтүстік Корея", "Корея"]},
    "Iran, Islamic Republic of": {"en": ["Iran"], "ru": ["Иран"], "kk": ["Иран"]},
    "Moldova, Republic of": {"en": ["Moldova"], "ru": ["Молдова", "Молдавия"], "kk": ["Молдова"]},
    "Czechia": {"en": ["Czech Republic"], "ru": ["Чехия"], "kk": ["Чехия"]},
    "Shymkent": {"kk": ["Шымкент"]},
}
"""Names people use that pycountry leaves out, by pycountry's English name and language."""

COMMON_WORD_NAMES: dict[Language, frozenset[str]] = {
    "ru": frozenset({"Гор", "Джерси", "Кампания", "Катания", "Конго", "Лежа", "Мила", "Од", "Пара", "Пони", "Эр", "Юра"}),
    "kk": frozenset({"АҚШ", "Гана", "Катар", "Куба", "Панама", "Тонга", "Қытай"}),
}
"""Place names a form of which is also a common word of their language ("пара", a pair, is Pará in
Brazil; "қытай", Chinese, is China; "ғана", only, typed "гана", is Ghana): they count only where the question writes them as a proper
noun, with a capital and not first in a sentence ("в Кампании", "Ал Қытайда ше?"), never in lower
case. No rule of form tells them apart, so the test holds this list to exactly the names the common
words of tests/answer/data/ would otherwise match."""


def _words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def _translations(domain: str, language: str):
    import pycountry

    try:
        return gettext.translation(domain, pycountry.LOCALES_DIR, languages=[language])
    except OSError:
        return gettext.NullTranslations()


def _in_script(name: str, language: Language) -> bool:
    return bool(name) and script_of(name) == REGISTRY[language].script


def places(common_words: frozenset[str]) -> dict[str, dict[Language, set[str]]]:
    """English place name -> its names in each language (a translation pycountry lacks, which it
    gives back in English, is left out)."""
    import pycountry

    names: dict[str, dict[Language, set[str]]] = {}
    countries = {language: _translations("iso3166-1", language) for language in REGISTRY if language != "en"}
    regions = {language: _translations("iso3166-2", language) for language in REGISTRY if language != "en"}

    def add(english: str, language: Language, found) -> None:
        names.setdefault(english, {})
        names[english].setdefault(language, set()).update(name for name in found if _in_script(name, language))

    for country in pycountry.countries:
        given = [getattr(country, attribute, None) for attribute in ("name", "common_name", "official_name")]
        english = [value for value in given if isinstance(value, str) and value and "," not in value]
        if not english:
            continue
        add(english[0], "en", english)
        for language, translation in countries.items():
            add(english[0], language, [translation.gettext(country.name)])
        for spoken, everyday in EVERYDAY_NAMES.get(country.name, {}).items():
            add(english[0], spoken, everyday)
    for subdivision in pycountry.subdivisions:
        name = subdivision.name
        if len(name) >= 4 and name.lower() not in common_words and not re.search(r"[\d(,]", name):
            add(name, "en", [name])
            for language, translation in regions.items():
                add(name, language, [translation.gettext(name)])
            for spoken, everyday in EVERYDAY_NAMES.get(name, {}).items():
                add(name, spoken, everyday)
    return names


_VOWELS = "аеиоуыэюя"
_RUSSIAN_DECLENSIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ая", ("ая", "ой", "ую", "ою")),  # Южная (Корея)
    ("яя", ("яя", "ей", "юю", "ею")),  # Нижняя (Саксония)
    ("ый", ("ый", "ого", "ому", "ым", "ом")),
    ("ой", ("ой", "ого", "ому", "ым", "ом")),
    ("ий", ("ий", "его", "ему", "им", "ем", "ого", "ому")),
    ("ое", ("ое", "ого", "ому", "ым", "ом")),
    ("ее", ("ее", "его", "ему", "им", "ем")),
    ("ые", ("ые", "ых", "ым", "ыми")),  # Объединённые (Арабские Эмираты)
    ("ие", ("ие", "их", "им", "ими")),
    ("ия", ("ия", "ии", "ию", "ией", "иею")),  # Швеция
    ("я", ("я", "и", "е", "ю", "ей", "ею")),
    ("а", ("а", "ы", "е", "у", "ой", "ою")),  # Москва; Америка takes и for ы
    ("ы", ("ы", "ов", "ам", "ами", "ах")),  # Нидерланды
    ("ь", ("ь", "и", "я", "ю", "е", "ем", "ью")),
    ("й", ("й", "я", "ю", "е", "ем")),  # Китай
)
"""Russian nominative endings and the case endings that replace them, first match wins."""

def _russian_forms(word: str) -> frozenset[str]:
    """The case forms of one word of a Russian place name, by its declension: "швеция" -> "швеции",
    "швецию", ...; "загреб" -> "загреба", "загребе", ...; an indeclinable one ("того", "перу") as it is."""
    if not re.fullmatch(r"[а-я]{3,}", word):
        return frozenset({word})
    for nominative, endings in _RUSSIAN_DECLENSIONS:
        if word.endswith(nominative) and not (nominative == "а" and word[-2] in _VOWELS):  # Самоа, Никарагуа
            stem = word[: len(word) - len(nominative)]
            if nominative == "а" and stem[-1] in "гкхжшчщ":
                endings = tuple(ending.replace("ы", "и") for ending in endings)
            return frozenset(stem + ending for ending in endings)
    if word[-1] in _VOWELS:
        return frozenset({word})
    return frozenset(word + ending for ending in ("", "а", "у", "е", "ом", "ем"))


_KAZAKH_ENDINGS = frozenset(
    """да де та те ға ге қа ке ны ні ды ді ты ті дан ден тан тен нан нен дың дің тың тің ның нің дағы дегі
    тағы тегі мен бен пен""".split()
)
"""Kazakh case endings, added after a whole place name ("Ресей" -> "Ресейде", "Германияның")."""
_KAZAKH_POSSESSED_ENDINGS = frozenset("на не нда нде ндағы ндегі".split())
"""The endings with the pronominal н, only after a possessive ending ("Федерациясы" -> "Федерациясында")."""


def _kazakh_forms(words: list[str]) -> tuple[frozenset[str], ...]:
    """A Kazakh name's words as they stand, the last one also with a case ending."""
    last = words[-1]
    endings = _KAZAKH_ENDINGS | (_KAZAKH_POSSESSED_ENDINGS if last[-1] in "ыі" else frozenset())
    return (*(frozenset({word}) for word in words[:-1]), frozenset({last} | {last + ending for ending in endings}))


def _fold(word: str) -> str:
    """A word as Russian folds its letters ("ё" read as "е"), the registry's rule."""
    return word.translate(REGISTRY["ru"].folding)


@dataclass(frozen=True)
class _Name:
    forms: tuple[frozenset[str], ...]
    """Per word of the name, the forms it may take in a question of its language."""
    name: str
    proper_only: bool
    """Whether it is also a common word, so counts only where written as a proper noun."""
    english: tuple[str, ...] = ()
    """The place's English names (how an English passage would write it)."""


def _name_forms(name: str, language: Language) -> tuple[frozenset[str], ...]:
    words = [_fold(word) for word in _words(name)]
    if language == "ru":
        return tuple(_russian_forms(word) for word in words)
    if language == "kk":
        return _kazakh_forms(words)
    return tuple(frozenset({word}) for word in words)


def _written_as_proper_noun(question: str, match: re.Match[str]) -> bool:
    """Whether a word is written as only a name is: in capitals ("АҚШ"), or capitalised but not
    first in a sentence ("в Кампании")."""
    word = match.group(0)
    if len(word) > 1 and word.isupper():
        return True
    before = question[: match.start()].rstrip(" \t\"'«„“(—-")
    return word[0].isupper() and bool(before) and before[-1] not in ".!?:;\n"


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
    def _places(self) -> list[tuple[dict[Language, set[str]], bool]]:
        """Every place's names, and whether the corpus mentions it under one of its English names
        (made once: the unknown and the known places split this one list)."""
        return [(found, any(self.mentions(name) for name in found.get("en", ())))
                for found in places(self.common_words).values()]

    @cached_property
    def _unknown(self) -> list[dict[Language, set[str]]]:
        """The names of every place the corpus does not mention under any of its English names
        ("Russian Federation" is unknown although "Russian" and "Federation" occur apart)."""
        return [found for found, mentioned in self._places if not mentioned]

    @cached_property
    def _known(self) -> list[dict[Language, set[str]]]:
        """The names of every place the corpus mentions under one of its English names."""
        return [found for found, mentioned in self._places if mentioned]

    @cached_property
    def _known_index(self) -> dict[Language, dict[str, list[_Name]]]:
        return _name_index(self._known)

    @cached_property
    def _every_index(self) -> dict[Language, dict[str, list[_Name]]]:
        """Known and unknown names together, so a known name of several words ("в Новой Зеландии")
        is read whole and its last word is not taken for a shorter unknown one (Zealand, Denmark)."""
        return _name_index(self._known + self._unknown)

    @cached_property
    def _unknown_places(self) -> frozenset[tuple[str, ...]]:
        return frozenset(tuple(sorted(found.get("en", ()))) for found in self._unknown)

    def _scan(self, question: str, language: Language, index: dict[Language, dict[str, list[_Name]]]):
        """(name entry, the words of the question that name it) for every name of `index` the
        question holds, each word read in the question's language or, in another script, that
        script's."""
        spans = list(_WORDS.finditer(question))
        words = [_fold(match.group(0).lower()) for match in spans]
        position = 0
        while position < len(words):
            step = 1
            word_language = script_language(script_of(words[position]), language).code
            for entry in index[word_language].get(words[position], ()):
                end = position + len(entry.forms)
                if end > len(words) or not all(word in forms for word, forms in zip(words[position:end], entry.forms, strict=True)):
                    continue
                if entry.proper_only and not _written_as_proper_noun(question, spans[position]):
                    continue
                yield entry, question[spans[position].start() : spans[end - 1].end()]
                step = len(entry.forms)
                break
            position += step

    @cached_property
    def _texts(self) -> list[str]:
        return [f" {run.strip()} " for run in self.corpus_text.split(" | ")]

    @cached_property
    def _homes(self) -> dict[tuple[str, ...], bool]:
        return {}

    def _home(self, english: tuple[str, ...]) -> bool:
        """Whether most documents name the place: the collection's own subject (Kazakhstan), which
        a passage need not repeat to be about it. Worked out once per place, not per question."""
        found = self._homes.get(english)
        if found is None:
            naming = sum(any(f" {' '.join(_words(name))} " in text for name in english) for text in self._texts)
            found = self._homes[english] = naming * 2 > len(self._texts)
        return found

    def places_named(self, question: str, language: Language | None = None) -> list[tuple[str, ...]]:
        """The places the question names that the corpus mentions, each as its English names,
        except the collection's own (`_home`): a question about Tajikistan finds passages about
        Kazakhstan, and whether they name Tajikistan is what the answerability model asks."""
        question, language = _as_read(question, language)
        named = dict.fromkeys(entry.english for entry, _ in self._scan(question, language, self._known_index))
        return [english for english in named if not self._home(english)]

    def unknown_terms(self, question: str, language: Language | None = None) -> list[str]:
        """Places and years named in the question that no document mentions; each word is read in
        the question's language (`language`, else detected) or, in another script, that script's."""
        question, language = _as_read(question, language)
        found = [year for year in _YEAR.findall(question) if year not in self.corpus_words]
        for entry, words in self._scan(question, language, self._every_index):
            if entry.english not in self._unknown_places:
                continue
            found.append(entry.name if _CYRILLIC.search(entry.name) else words)
        return list(dict.fromkeys(found))


def _as_read(question: str, language: Language | None) -> tuple[str, Language]:
    """The question and its language as the pipeline reads them: given (the question as read), or
    detected, Russian or Kazakh typed in Latin letters then read in Cyrillic (so "tartu", "to go"
    in "posle togo" are not places)."""
    if language is not None:
        return question, language
    detected, text = read_question(question)
    return text, detected


def _name_index(found_places: list[dict[Language, set[str]]]) -> dict[Language, dict[str, list[_Name]]]:
    """Every name of the places, by language and by each form of its first word, longest first;
    names made only of the language's stop words ("Того", "Об") are left out."""
    index: dict[Language, dict[str, list[_Name]]] = {language: {} for language in REGISTRY}
    for found in found_places:
        english = tuple(sorted(found.get("en", ())))
        for language, names in found.items():
            stopwords = REGISTRY[language].stopwords()
            for name in names:
                words = [_fold(word) for word in _words(name)]
                if not words or set(words) <= stopwords:
                    continue
                entry = _Name(_name_forms(name, language), name, name in COMMON_WORD_NAMES.get(language, ()), english)
                for form in entry.forms[0]:
                    index[language].setdefault(form, []).append(entry)
    for by_form in index.values():
        for entries in by_form.values():
            entries.sort(key=lambda entry: -len(entry.forms))
    return index
