"""Property-based fuzzing of the HTTP API from its own OpenAPI schema (schemathesis), in process
through the ASGI app with the real index, model and FAISS: valid and invalid requests generated
for every operation of the schema; no 5xx, and every response conforms to the schema (documented
status code, content type, headers, body schema), with every check on: a request the schema allows
is answered (2xx), one it does not is refused (4xx), because the schema states the limits the code
enforces. At least 500 requests in all, about a minute."""

from __future__ import annotations

import pytest
import schemathesis
from fuzzing import fuzz, operations
from schemathesis import GenerationMode

from assistant.api import create_app

MIN_REQUESTS = 500
# Examples per operation and generation mode; `POST /api/ask` is where the input is.
EXAMPLES = {"POST /api/ask": 600}
OTHER_EXAMPLES = 100


@pytest.fixture(scope="module")
def api_schema(assistant):
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(assistant))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_every_response_conforms_to_the_schema(api_schema, mode):
    fuzzed = fuzz(operations(api_schema), mode, lambda label: EXAMPLES.get(label, OTHER_EXAMPLES))
    SENT[mode.value] = fuzzed.total
    assert not fuzzed.failures, "\n\n".join(fuzzed.failures)
    assert "POST /api/ask" in fuzzed.sent


SENT: dict[str, int] = {}


@pytest.mark.models  # counts what the two fuzz tests above sent: runs with them
def test_at_least_500_requests_were_generated():
    if len(SENT) < 2:
        pytest.skip("runs after both fuzz tests")
    print(f"fuzz requests: {SENT}")
    assert sum(SENT.values()) >= MIN_REQUESTS, SENT


@pytest.mark.parametrize("body", [
    {"question": "Is sex work legal?", "k": 1000},
    {"question": "   \n\t "},
    {"question": "\u3000\xa0"},
    {"question": "bell\u0007"},
    {"question": "del\x7f"},
    {"question": "x" * 1001},
    {"question": "Is sex work legal?", "year_from": 99999},
    {"question": "Is sex work legal?", "language": "de"},
])
def test_what_the_schema_refuses_the_code_refuses_with_a_documented_422(assistant, body):
    import jsonschema_rs  # schemathesis's validator (Rust, ECMAScript regexes)
    from fastapi.testclient import TestClient

    client = TestClient(create_app(assistant))
    request = client.get("/openapi.json").json()["components"]["schemas"]["AskRequest"]
    assert not jsonschema_rs.validator_for(request).is_valid(body)
    response = client.post("/api/ask", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) == {"error"} and response.json()["error"]


def test_the_schema_states_the_limits_from_the_settings(assistant):
    from fastapi.testclient import TestClient

    schema = TestClient(create_app(assistant)).get("/openapi.json").json()
    fields = schema["components"]["schemas"]["AskRequest"]["properties"]
    settings = assistant.settings
    assert fields["question"]["maxLength"] == settings.max_question_chars and fields["question"]["minLength"] == 1
    assert fields["k"]["maximum"] == settings.max_k and fields["k"]["minimum"] == 1
    assert {"404", "413", "422"} <= set(schema["paths"]["/api/ask"]["post"]["responses"])


def test_the_question_pattern_and_the_validator_agree_on_every_character():
    """Each character alone, between two letters and before a space: the schema's pattern (Python's
    re, as hypothesis generates from it) accepts exactly what `validate_question` accepts. Every
    code point up to U+3100 (all control characters and white space are there), every 61st after."""
    import re
    import sys

    from assistant.errors import QuestionError
    from assistant.query.validation import QUESTION_PATTERN, validate_question

    pattern = re.compile(QUESTION_PATTERN)

    def accepted(text: str) -> bool:
        try:
            validate_question(text, 1000)
            return True
        except QuestionError:
            return False

    for code in [*range(0x3100), *range(0x3100, sys.maxunicode + 1, 61)]:
        if 0xD800 <= code <= 0xDFFF:  # lone surrogates are not text (JSON can carry them; both refuse)
            continue
        char = chr(code)
        for text in (char, f"a{char}b", f"{char} "):
            assert (pattern.fullmatch(text) is not None) == accepted(text), (hex(code), text)
