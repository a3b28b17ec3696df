"""Property-based fuzzing of the HTTP API from its own OpenAPI schema (schemathesis), in process
through the ASGI app with the real index, model and FAISS: valid and invalid requests generated
for every operation of the schema; no 5xx, and every response conforms to the schema (documented
status code, content type, headers, body schema). At least 500 requests in all, about a minute."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from assistant.api import create_app

MIN_REQUESTS = 500
# Examples per operation and generation mode; `POST /api/ask` is where the input is.
EXAMPLES = {"POST /api/ask": 600}
OTHER_EXAMPLES = 100
# Skipped: "schema-valid data must get a 2xx". The app refuses, with a documented 422 and a JSON
# error, some questions the schema lets through: `k` above `max_k` (the schema states no maximum),
# questions of only white space, with control characters or over `max_question_chars`.
# `test_schema_valid_but_refused_questions_get_a_documented_422` pins that behaviour instead.
EXCLUDED = [positive_data_acceptance]


@pytest.fixture(scope="module")
def api_schema(assistant):
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(assistant))


def _operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_every_response_conforms_to_the_schema(api_schema, mode):
    sent: dict[str, int] = {}
    failures = []
    for operation in _operations(api_schema):
        label = f"{operation.method.upper()} {operation.path}"

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES.get(label, OTHER_EXAMPLES), deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call()
            sent[label] = sent.get(label, 0) + 1
            assert response.status_code < 500, (label, response.status_code, response.text[:300])
            case.validate_response(response, excluded_checks=EXCLUDED)

        try:
            check()
        except Unsatisfiable:  # no invalid input exists (no parameters, or any string is a valid doc_id)
            assert mode is GenerationMode.NEGATIVE, label
        except Exception as error:  # report every operation, not only the first that fails
            failures.append(f"{label} ({mode.value}): {error}")
    SENT[mode.value] = sum(sent.values())
    assert not failures, "\n\n".join(failures)
    assert "POST /api/ask" in sent


SENT: dict[str, int] = {}


def test_at_least_500_requests_were_generated():
    if len(SENT) < 2:
        pytest.skip("runs after both fuzz tests")
    print(f"fuzz requests: {SENT}")
    assert sum(SENT.values()) >= MIN_REQUESTS, SENT


@pytest.mark.parametrize("body", [
    {"question": "Is sex work legal?", "k": 1000},
    {"question": "   \n\t "},
    {"question": "bell\u0007"},
    {"question": "x" * 1001},
])
def test_schema_valid_but_refused_questions_get_a_documented_422(assistant, body):
    from fastapi.testclient import TestClient

    response = TestClient(create_app(assistant)).post("/api/ask", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) == {"error"} and response.json()["error"]
