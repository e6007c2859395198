"""Fuzzing every operation of the served OpenAPI document with schemathesis.

Each operation gets the requests of schemathesis's four phases, with an admin key:
- examples: the document's own examples;
- coverage: schemathesis's deterministic boundary and invalid values of every parameter
  and body field;
- fuzzing: generated requests, valid by the schema and deliberately invalid,
  FUZZ_EXAMPLES cases per operation and mode;
- stateful: sequences that feed one answer into the next request (a written receipt
  fetched again, a hold made and released ...), along the links schemathesis infers.
No answer may be a 5xx, and every answer must match what the document says that
operation answers (status, content type, body schema). The seed is fixed. `make test`
runs a small budget; CI raises it with FUZZ_EXAMPLES=32 (.ci/run), which sends well over
2,000 requests per database engine, and the test asserts it did.
"""

from __future__ import annotations

import collections
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
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# What CI's budget (FUZZ_EXAMPLES=32) must send per engine, all phases together (issue 21).
CI_EXAMPLES, CI_CASES = 32, 2000
STATEFUL_SCENARIOS = max(2, EXAMPLES // 2)  # sequences of up to STATEFUL_STEPS calls
STATEFUL_STEPS = 6
SETTINGS = {"deadline": None, "database": None, "derandomize": True,
            "suppress_health_check": list(HealthCheck)}


class Run:
    """The cases sent per phase, and the first failure of each operation and phase."""

    def __init__(self, headers: dict):
        self.headers = headers
        self.sent: collections.Counter[str] = collections.Counter()
        self.failures: dict[str, str] = {}

    def check(self, phase: str, case, response) -> None:
        self.sent[phase] += 1
        try:
            case.validate_response(response, headers=self.headers, checks=CHECKS)
        except Exception as exc:  # keep every operation's first failure
            self.failures.setdefault(f"{case.operation.label} ({phase})", str(exc)[:2000])


def _fuzz(operation, mode, run: Run) -> None:
    """The fuzzing phase of one operation in one generation mode."""

    @settings(max_examples=EXAMPLES, phases=[Phase.explicit, Phase.generate], **SETTINGS)
    @given(case=operation.as_strategy(generation_mode=mode))
    def test(case):
        run.check(f"fuzzing {mode.value}", case, case.call(headers=run.headers))

    try:
        test()
    except Unsatisfiable:  # an operation that takes no input has no invalid requests
        assert mode is schemathesis.GenerationMode.NEGATIVE


def _examples_and_coverage(schema, operation, run: Run) -> None:
    """The examples and coverage phases of one operation (explicit cases: no budget)."""

    def test(case):
        phase = case.meta.phase.name.value if case.meta else "examples"
        run.check(phase, case, case.call(headers=run.headers))

    config = HypothesisTestConfig(
        project=schema.config, modes=[HypothesisTestMode.EXAMPLES, HypothesisTestMode.COVERAGE],
        settings=settings(max_examples=EXAMPLES, phases=[Phase.explicit], **SETTINGS))
    create_test(operation=operation, test_func=test, config=config)()


def _stateful(schema, run: Run) -> None:
    """The stateful phase: scenarios along the links schemathesis infers."""

    class Scenarios(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"headers": run.headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            run.check("stateful", case, response)

    Scenarios.run(settings=settings(max_examples=STATEFUL_SCENARIOS,
                                    stateful_step_count=STATEFUL_STEPS, **SETTINGS))


def test_no_operation_answers_5xx_or_off_its_schema(app, admin):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    run = Run(admin)
    for operation in operations:
        _examples_and_coverage(schema, operation, run)
        for mode in (schemathesis.GenerationMode.POSITIVE,
                     schemathesis.GenerationMode.NEGATIVE):
            _fuzz(operation, mode, run)
    _stateful(schema, run)
    print(f"schemathesis cases per phase: {dict(run.sent)}, {sum(run.sent.values())} in all")
    assert run.failures == {}
    # Every phase ran, and the budget was really spent.
    assert {"examples", "coverage", "fuzzing positive", "fuzzing negative",
            "stateful"} <= set(run.sent), run.sent
    assert run.sent["fuzzing positive"] + run.sent["fuzzing negative"] >= (
        len(operations) * EXAMPLES)
    total = sum(run.sent.values())
    assert total >= CI_CASES * EXAMPLES // CI_EXAMPLES, run.sent  # >= 2,000 at CI's 32
    assert app.test_client().get("/healthz").status_code == 200


@pytest.fixture(autouse=True)
def _quiet_request_log(caplog):
    caplog.set_level("WARNING", logger="consentry.request")
