"""Fuzzing every operation of the served OpenAPI document with schemathesis.

Each operation gets generated requests, valid by its schema and deliberately invalid,
with an admin key: no answer may be a 5xx, and every answer must match what the
document says that operation answers (status, content type, body schema). The seed is
fixed. `make test` runs a small budget; CI raises it with FUZZ_EXAMPLES (cases per
operation and mode).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _fuzz(operation, mode, headers: dict, failures: dict[str, str]) -> int:
    """Run one operation's generated requests in one mode; return how many were sent."""
    seen = 0

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        nonlocal seen
        seen += 1
        response = case.call(headers=headers)
        try:
            case.validate_response(response, headers=headers, checks=CHECKS)
        except Exception as exc:  # keep every operation's first failure
            failures.setdefault(f"{operation.label} ({mode.value})", str(exc)[:2000])

    try:
        run()
    except Unsatisfiable:  # an operation that takes no input has no invalid requests
        assert mode is schemathesis.GenerationMode.NEGATIVE
    return seen


def test_no_operation_answers_5xx_or_off_its_schema(app, admin):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    failures: dict[str, str] = {}
    cases = sum(_fuzz(operation, mode, admin, failures) for operation in operations
                for mode in (schemathesis.GenerationMode.POSITIVE,
                             schemathesis.GenerationMode.NEGATIVE))
    assert failures == {}
    assert cases >= len(operations) * EXAMPLES  # the budget was really spent
    assert app.test_client().get("/healthz").status_code == 200


@pytest.fixture(autouse=True)
def _quiet_request_log(caplog):
    caplog.set_level("WARNING", logger="consentry.request")
