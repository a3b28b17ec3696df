"""A curated glossary of the words users type ("SW", "PLHIV", "GF", "Kazakstan") and the words
the documents use, applied to the lexical side of search as a query expansion."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .errors import AssistantError


@dataclass(frozen=True)
class Glossary:
    terms: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> "Glossary":
        """The glossary at `path`; an absent file is an empty glossary, a broken one an error."""
        if path is None or not path.is_file():
            return cls()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise AssistantError(f"glossary {path} is unreadable ({error}): fix it or remove it") from None
        terms = data.get("terms", {})
        if not isinstance(terms, dict) or not all(isinstance(v, str) for v in terms.values()):
            raise AssistantError(f"glossary {path}: [terms] must map words to text")
        return cls({key.lower(): value for key, value in terms.items()})

    @cached_property
    def _pattern(self) -> re.Pattern | None:
        if not self.terms:
            return None
        keys = sorted(self.terms, key=len, reverse=True)
        return re.compile(r"(?<![\w.])(" + "|".join(re.escape(k) for k in keys) + r")(?!\w|\.\w)", re.IGNORECASE)

    def expansions(self, question: str) -> list[str]:
        """The expansions of every glossary term found in the question, in order, once each."""
        pattern = self._pattern
        if pattern is None:
            return []
        found = []
        for match in pattern.finditer(question):
            expansion = self.terms[match.group(1).lower()]
            if expansion not in found:
                found.append(expansion)
        return found
