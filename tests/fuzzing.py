"""Schemathesis over a schema's operations, shared by tests/api/test_fuzz.py (the public API) and
tests/api/test_fuzz_operator.py (the operator's routes): each operation driven by hypothesis in one
generation mode (valid or invalid requests), every response checked by `case.validate_response`
(every schemathesis check: documented status, content type, headers and body, valid data
accepted, invalid data refused) and never a 5xx; every operation reported, not only the first
that fails, and the requests sent counted per operation. And `mutants`: damaged copies of a file, for
tests/ingest/test_malformed.py (every one must load or be refused in one line)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode


@dataclass
class Fuzzed:
    """What one run sent (requests per "METHOD /path") and what failed (one message per operation)."""

    sent: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def operations(schema, prefix: str = "/") -> list:
    """The schema's operations whose path starts with `prefix`, in the schema's order."""
    return [operation for operation in (result.ok() for result in schema.get_all_operations())
            if operation.path.startswith(prefix)]


def label(operation) -> str:
    return f"{operation.method.upper()} {operation.path}"


def send_as_generated(case, data) -> Any:
    return case.call()


def validate(case, response) -> None:
    case.validate_response(response)


def fuzz(schema_operations: list, mode: GenerationMode, examples: Callable[[str], int], *,
         send: Callable[[Any, Any], Any] = send_as_generated,
         check: Callable[[Any, Any], None] = validate) -> Fuzzed:
    """Run `examples(label)` generated cases of each operation in `mode`. `send(case, data)` sends a
    case (`data`: hypothesis's `st.data()`, for a test that draws more, such as an existing id) and
    returns the response; `check(case, response)` validates it. An operation with no invalid input
    (no parameters, or only strings that anything matches) is skipped in the negative mode."""
    fuzzed = Fuzzed()
    for operation in schema_operations:
        name = label(operation)
        try:
            _runner(operation, mode, examples(name), name, fuzzed, send, check)()
        except Unsatisfiable:  # no invalid input exists (no parameters, or any string is a valid doc_id)
            if mode is not GenerationMode.NEGATIVE:
                fuzzed.failures.append(f"{name} ({mode.value}): no valid request could be generated")
        except Exception as error:  # report every operation, not only the first that fails
            fuzzed.failures.append(f"{name} ({mode.value}): {error}")
    return fuzzed


def _runner(operation, mode: GenerationMode, examples: int, name: str, fuzzed: Fuzzed,
            send: Callable[[Any, Any], Any], check: Callable[[Any, Any], None]) -> Callable[[], None]:
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case, data):
        response = send(case, data)
        fuzzed.sent[name] = fuzzed.sent.get(name, 0) + 1
        assert response.status_code < 500, (name, response.status_code, response.text[:300])
        check(case, response)

    return run


def mutants(data: bytes, count: int, seed: int) -> list[tuple[str, bytes]]:
    """`count` damaged copies of `data`, each with what was done to it: a few bytes flipped, the
    file cut short, or a stretch of it repeated or dropped (what a bad disk, a broken download or a
    careless edit does to a document). The same `seed` gives the same copies."""
    import random

    rng = random.Random(seed)
    made: list[tuple[str, bytes]] = []
    while len(made) < count:
        kind = rng.choice(("flip", "flip", "truncate", "repeat", "drop"))
        copy = bytearray(data)
        if kind == "flip":
            places = sorted(rng.randrange(len(copy)) for _ in range(rng.randint(1, 8)))
            for place in places:
                copy[place] ^= rng.randint(1, 255)
            what = f"flip at {places}"
        else:
            start = rng.randrange(len(copy))
            end = min(len(copy), start + rng.randint(1, 2048))
            if kind == "truncate":
                copy = copy[:start]
                what = f"truncate at {start}"
            elif kind == "repeat":
                copy[end:end] = copy[start:end]
                what = f"repeat {start}:{end}"
            else:
                del copy[start:end]
                what = f"drop {start}:{end}"
        made.append((what, bytes(copy)))
    return made
