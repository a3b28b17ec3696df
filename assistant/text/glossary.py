"""A curated glossary of the words users type and the words the documents use, applied to the
lexical side of search as a query expansion.

It maps abbreviations, slang and spellings ("SW", "PLHIV", "Kazakstan") and, across languages, the
Russian and Kazakh words people type ("прописка", "ВИЧ", "АИТВ", "торговля людьми") to the English
terms of the documents. A key is one or more words; a word ending in "*" matches any word that
begins with it, which is how a Russian or Kazakh key covers its inflections ("прописк*":
прописка, прописки, прописку; "жезөкше*": жезөкшелік, жезөкшелікке). Keys match whole words, in
any case. The file's tables (`[en]`, `[ru]`, `[kk]`, or one `[terms]`) only organise it. A key in a
language's own letters also matches as typed without them ("жезөкше*" matches "жезокшелик": many
type Kazakh on a Russian keyboard), when that spelling is long enough to mean nothing else.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from assistant.errors import AssistantError
from assistant.languages import REGISTRY, typed_plainly


def _key_pattern(key: str) -> str:
    words = key.split()
    parts = [re.escape(word[:-1]) + r"\w*" if word.endswith("*") else re.escape(word) for word in words]
    tail = "" if words[-1].endswith("*") else r"(?!\w|\.\w)"
    return r"(?<![\w.])" + r"[\s\-]+".join(parts) + tail


PLAIN_SPELLING_MIN_LETTERS = 4
"""A key's first word, typed without its language's own letters, needs this many letters before it
counts as that key ("құқ*" as "кук*" would match Russian "кукла")."""


def _with_plain_spellings(terms: dict[str, str]) -> dict[str, str]:
    """`terms` plus each key as typed without its language's own letters (`LanguageSpec.plain_letters`),
    unless that spelling is a key already or too short to be safe."""
    extended = dict(terms)
    for spec in REGISTRY.values():
        if not spec.plain_letters:
            continue
        for key, expansion in terms.items():
            if not set(key) & spec.letters:
                continue
            plain = typed_plainly(key, spec.code)
            if len(plain.split()[0].rstrip("*")) >= PLAIN_SPELLING_MIN_LETTERS:
                extended.setdefault(plain, expansion)
    return extended


@dataclass(frozen=True)
class Glossary:
    terms: dict[str, str] = field(default_factory=dict)
    """Key (lower case; see the module docstring) -> expansion (words as the documents write them)."""

    @classmethod
    def load(cls, path: Path | None) -> Glossary:
        """The glossary at `path`; an absent file is an empty glossary, a broken one an error."""
        if path is None or not path.is_file():
            return cls()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise AssistantError(f"glossary {path} is unreadable ({error}): fix it or remove it") from None
        terms: dict[str, str] = {}
        for table, entries in data.items():
            if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
                raise AssistantError(f"glossary {path}: [{table}] must map words to text")
            for key, expansion in entries.items():
                key = " ".join(key.lower().split())
                if not key or key.startswith("*"):
                    raise AssistantError(f"glossary {path}: [{table}] has an empty key or one starting with *")
                if key in terms:
                    raise AssistantError(f"glossary {path}: {key!r} is given twice; keep one entry")
                terms[key] = expansion
        return cls(_with_plain_spellings(terms))

    @cached_property
    def _matchers(self) -> list[tuple[re.Pattern, str, str]]:
        """(pattern, key, what its first word must contain), longest key first: the order in which
        keys win when two match at the same place."""
        keys = sorted(self.terms, key=lambda k: (-len(k.replace("*", "")), k))
        return [(re.compile(_key_pattern(key), re.IGNORECASE), key, key.split()[0].rstrip("*")) for key in keys]

    def matches(self, question: str) -> list[tuple[int, int, str]]:
        """Where glossary terms occur in the question: (start, end, key), in order. Where two keys
        match at one place the longer wins, and matching resumes after it. Only the keys whose
        first word occurs in the question are tried (a glossary of hundreds of keys costs a few
        substring checks, not hundreds of regular expressions)."""
        lowered = question.lower()
        candidates: list[tuple[int, int, int, str]] = []
        for order, (pattern, key, first) in enumerate(self._matchers):
            if first in lowered:
                candidates.extend((match.start(), order, match.end(), key) for match in pattern.finditer(question))
        found: list[tuple[int, int, str]] = []
        resume = 0
        for start, _, end, key in sorted(candidates):
            if start < resume:
                continue
            resume = end
            found.append((start, end, key))
        return found

    def expansions(self, question: str) -> list[str]:
        """The expansions of every glossary term found in the question (`matches`), in order, once each."""
        found: list[str] = []
        for _, _, key in self.matches(question):
            expansion = self.terms[key]
            if expansion not in found:
                found.append(expansion)
        return found

    def unmatched(self, question: str) -> str:
        """The question with every glossary term blanked out: the words the glossary does not translate."""
        parts, resume = [], 0
        for start, end, _ in self.matches(question):
            parts.append(question[resume:start])
            resume = end
        return " ".join([*parts, question[resume:]])
