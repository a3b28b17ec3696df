"""The interface in English, Russian and Kazakh: gettext catalogues (Babel) and the choice of language.

Messages are written in English in the code (the gettext `msgid`); `assistant/locale/<lang>/
LC_MESSAGES/messages.po` holds their Russian and Kazakh, compiled to the `.mo` files gettext reads
(`make messages` extracts, updates and compiles; `tests/test_i18n.py` fails when a `.mo` is older
than its `.po`). Where a message is made is rarely where it is shown: an error raised deep in the
pipeline is shown by the API in the language of the request and by the CLI in the terminal's, so
such messages are marked with `N_` and carried as a `Message` (id and parameters), formatted only
at the edge by `Message.render(lang)`.

Which language: the page takes `?lang=` when given (carried in its links and forms, so the choice
is remembered without a cookie), else the browser's `Accept-Language`; the API takes
`Accept-Language`; the CLI takes `--lang`, else gettext's `LANGUAGE`, `LC_ALL`, `LC_MESSAGES`,
`LANG`. Anything else is English.
"""

from __future__ import annotations

import gettext as _gettext
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations

from assistant.languages import LANGUAGES, Language

UiLanguage = Language
UI_LANGUAGES: tuple[UiLanguage, ...] = LANGUAGES
DEFAULT_LANGUAGE: UiLanguage = "en"
"""Each language named in itself, as the language switch shows it."""
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"


def N_(message: str) -> str:
    """Marks `message` for extraction (`pybabel extract -k N_`) without translating it here: it is
    translated where it is shown, in the language of whoever reads it."""
    return message


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The compiled catalogue of `lang` (English, the source language, needs none)."""
    if lang not in UI_LANGUAGES or lang == DEFAULT_LANGUAGE:
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [lang], DOMAIN)


def gettext(lang: str, message: str) -> str:
    """`message` in `lang`, or as written when the catalogue lacks it."""
    return translations(lang).gettext(message)


def ngettext(lang: str, singular: str, plural: str, n: int) -> str:
    """The form of `singular`/`plural` that `n` takes in `lang` (Russian has three)."""
    return translations(lang).ngettext(singular, plural, n)


@dataclass(frozen=True)
class Message:
    """A message id (English, with `{name}` fields) and its parameters, formatted where it is shown."""

    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self, lang: str = DEFAULT_LANGUAGE) -> str:
        """The message in `lang`, its fields filled in (a field that is a message itself in `lang` too)."""
        text = gettext(lang, self.msgid)
        if not self.params:
            return text
        return text.format(**{name: value.render(lang) if isinstance(value, Message) else value
                              for name, value in self.params.items()})

    def __str__(self) -> str:
        return self.render(DEFAULT_LANGUAGE)

    def as_json(self) -> dict:
        """The message as JSON data, to be shown later in any language (`from_json`): a parameter that
        is a message stays one, any other that is not a number is kept as text."""
        return {"msgid": self.msgid, "params": {
            name: value.as_json() if isinstance(value, Message)
            else value if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
            for name, value in self.params.items()}}

    @classmethod
    def from_json(cls, data: Any) -> Message:
        """The message `as_json` wrote (a damaged one as its text, as far as it goes)."""
        if not isinstance(data, dict) or not isinstance(data.get("msgid"), str):
            return cls(str(data))
        params = data.get("params")
        if not isinstance(params, dict):
            params = {}
        return cls(data["msgid"], {name: cls.from_json(value) if isinstance(value, dict) else value
                                   for name, value in params.items()})


def supported(value: str | None) -> UiLanguage | None:
    """The interface language a tag names ("ru", "ru-RU", "kk_KZ.UTF-8", "RU"), or None."""
    if not value:
        return None
    primary = re.split(r"[-_.@]", value.strip().lower(), maxsplit=1)[0]
    return primary if primary in UI_LANGUAGES else None


def from_accept_language(header: str | None) -> UiLanguage:
    """The interface language an `Accept-Language` header prefers most (q-values honoured, order
    breaks ties), English when it names none of ours."""
    ranked: list[tuple[float, int, UiLanguage]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, parameters = part.strip().partition(";")
        quality = 1.0
        match = re.search(r"q\s*=\s*([0-9.]+)", parameters)
        if match:
            try:
                quality = float(match.group(1))
            except ValueError:
                continue
        language = supported(tag)
        if language is not None and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


def from_environment(environ: Mapping[str, str] | None = None) -> UiLanguage:
    """The terminal's language by gettext's convention: the first of `LANGUAGE` (a colon-separated
    list), `LC_ALL`, `LC_MESSAGES`, `LANG` that is set decides; English when it is not one of ours."""
    environ = os.environ if environ is None else environ
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(variable, "").strip()
        if not value:
            continue
        if variable == "LANGUAGE":
            for item in value.split(":"):
                if supported(item):
                    return supported(item)  # type: ignore[return-value]
            continue
        return supported(value) or DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE
