"""The language the API answers in: error messages (and an answer's `abstain_reason`) follow the
request's `Accept-Language` (en, ru or kk); without one, English. Keys and values meant for
programs (`error`, field names, ids) never change."""

from __future__ import annotations

from fastapi import Request

from assistant.i18n import N_, UiLanguage, from_accept_language, gettext

# Pydantic's messages for the request-body errors people make most, by error type; others stay in
# pydantic's English.
VALIDATION_MESSAGES = {
    "missing": N_("field required"),
    "string_type": N_("must be text"),
    "int_type": N_("must be a whole number"),
    "int_parsing": N_("must be a whole number"),
    "int_from_float": N_("must be a whole number"),
    "list_type": N_("must be a list"),
    "bool_type": N_("must be true or false"),
    "literal_error": N_("must be one of {expected}"),
    "greater_than_equal": N_("must be at least {ge}"),
    "greater_than": N_("must be more than {gt}"),
    "less_than_equal": N_("must be at most {le}"),
    "string_too_long": N_("must be at most {max_length} characters"),
    "string_too_short": N_("must not be empty"),
    "too_long": N_("must have at most {max_length} items"),
    "model_attributes_type": N_("must be a JSON object"),
    "dict_type": N_("must be a JSON object"),
}
HTTP_PHRASES = [N_("Not Found"), N_("Method Not Allowed"), N_("Request Entity Too Large"), N_("Unsupported Media Type")]
"""Starlette's reason phrases that reach users as `error`, translated like the rest."""


def request_language(request: Request) -> UiLanguage:
    """The interface language the client asked for with `Accept-Language`; English by default."""
    return from_accept_language(request.headers.get("accept-language"))


def translate(request: Request, message: str) -> str:
    """`message` (a message id without fields) in the request's language."""
    return gettext(request_language(request), message)
