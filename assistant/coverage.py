"""What a question names that the corpus never mentions: a place or a year.

"Is prostitution legal in Germany?" is close in meaning to passages about Kazakhstan, so
similarity alone cannot tell that the documents do not cover it; that Germany appears nowhere
in them can. Places come from ISO 3166 (`pycountry`): country names, and region and city names
that are not also common English words (the embedding model's vocabulary stands in for a
dictionary, so "Central" or "Capital" never count as places).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

_WORDS = re.compile(r"[^\W_]+")
_YEAR = re.compile(r"\b(19\d\d|20\d\d)\b")


def _words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def place_names(common_words: frozenset[str]) -> set[str]:
    import pycountry

    names: set[str] = set()
    for country in pycountry.countries:
        for attribute in ("name", "common_name", "official_name"):
            value = getattr(country, attribute, None)
            if value and "," not in value:
                names.add(value.lower())
    for subdivision in pycountry.subdivisions:
        name = subdivision.name.lower()
        if len(name) >= 4 and name not in common_words and not re.search(r"[\d(,]", name):
            names.add(name)
    return names


@dataclass
class CorpusCoverage:
    corpus_words: frozenset[str]
    common_words: frozenset[str] = frozenset()

    @classmethod
    def of_texts(cls, texts, common_words: frozenset[str] = frozenset()) -> "CorpusCoverage":
        words: set[str] = set()
        for text in texts:
            words.update(_words(text))
        return cls(frozenset(words), common_words)

    @cached_property
    def _unknown_places(self) -> re.Pattern | None:
        unknown = [name for name in place_names(self.common_words) if not set(_words(name)) <= self.corpus_words]
        if not unknown:
            return None
        alternatives = "|".join(re.escape(name) for name in sorted(unknown, key=len, reverse=True))
        return re.compile(rf"(?<![\w-])({alternatives})(?![\w-])", re.IGNORECASE)

    def unknown_terms(self, question: str) -> list[str]:
        """Places and years named in the question that no document mentions."""
        found = [year for year in _YEAR.findall(question) if year not in self.corpus_words]
        pattern = self._unknown_places
        if pattern is not None:
            found += [match.group(1) for match in pattern.finditer(question)]
        return list(dict.fromkeys(found))
