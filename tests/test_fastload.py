"""consentry.fastload: the fast path loads exactly what marshmallow loads, and every input
it is not sure of goes to marshmallow, so a 422 is marshmallow's, message for message."""

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import marshmallow as ma
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.schemas import (
    ConsentWriteSchema,
    DecisionBatchSchema,
    DecisionSchema,
    ImportRecordSchema,
)
from consentry import fastload

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


@contextmanager
def marshmallow_only():
    """Every FastLoad schema loads through marshmallow alone (the reference)."""
    compile_ = fastload._compile
    fastload._compile = lambda schema: None
    try:
        yield
    finally:
        fastload._compile = compile_


def outcome(schema: ma.Schema, data):
    try:
        return "loaded", schema.load(data)
    except ma.ValidationError as exc:
        return "invalid", exc.messages


def reference(schema: ma.Schema, data):
    with marshmallow_only():
        return outcome(schema, data)


def a_decision(i: int = 0) -> dict:
    return {"subject_id": f"u-{i}", "surface": "homepage_hero", "channel": "web",
            "purpose": "personalization",
            "item": {"id": f"sku-{i}", "label": "Shoes", "price": "9.99"},
            "signals_used": [{"category": "behavioral", "summary": "viewed shoes",
                              "weight": 0.5, "observed_at": "2026-11-28T10:00:00Z"},
                             {"category": "location_precise"}],
            "rule": {"id": "R1", "model": "m-2"}, "decided_at": "2026-11-29T09:59:00.123Z",
            "recipe_id": None}


def a_record(i: int = 0) -> dict:
    return {"subject_id": f"m-{i}", "recorded_at": "2024-01-01T00:00:00+02:00",
            "jurisdiction": "EU", "source": "old_cmp", "notice_version": "v7",
            "choices": [{"purpose": "marketing", "status": "granted"},
                        {"purpose": "analytics", "category": "behavioral", "status": "denied"}],
            "evidence": {"ip": "198.51.100.7", "user_agent": "Mozilla/5.0"}}


def a_write(i: int = 0) -> dict:
    return {"source": "preference_center", "jurisdiction": "EU", "notice_version": "v7",
            "choices": [{"purpose": "personalization", "status": "granted"},
                        {"purpose": "marketing", "channel": "email", "status": "denied"},
                        {"purpose": "analytics", "category": "behavioral",
                         "status": "withdrawn"}],
            "evidence": {"user_agent": f"Mozilla/{i}", "ip": "203.0.113.9"}, "gpc": False,
            "tcf": {"tc_string": "CPxyz"}, "gpp": {"gpp_string": "DBABMA~CPxyz"}}


MISSING = object()
HOSTILE = st.one_of(
    st.just(MISSING), st.none(), st.booleans(), st.integers(-2, 2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
    st.text(min_size=60, max_size=70), st.just("x" * 201), st.just("x" * 1001), st.just(""),
    st.sampled_from(["2026-11-29T10:00:00", "2026-11-29T10:00:00z", "2026-11-29 10:00:00Z",
                     "2026-11-29T10:00:00.1234567Z", "0001-01-01T00:00:00+01:00",
                     "9999-12-31T23:59:59-05:00", "2026-02-30T00:00:00Z", "2026-11-29",
                     "2026-11-29T10:00:00+0100", "granted", "withdrawn", "marketing",
                     "u 1", "u-1\n", "é", "EU"]),
    st.lists(st.integers(), max_size=2), st.lists(st.fixed_dictionaries({}), max_size=60),
    st.dictionaries(st.sampled_from(["id", "en", "category", "x", "toolonglang"]),
                    st.one_of(st.text(max_size=3), st.none(), st.integers()), max_size=3))


def paths(value, prefix=()):
    """Every (path) into nested dicts and lists of `value`."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield (*prefix, i)
            yield from paths(item, (*prefix, i))


def mutate(value, path, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        if len(rest) == 0 and new is MISSING:
            copy.pop(head, None)
        else:
            copy[head] = mutate(value[head], rest, new)
        return copy
    copy = list(value)
    copy[head] = mutate(value[head], rest, new) if not (len(rest) == 0 and new is MISSING) \
        else None
    return copy


@st.composite
def hostile(draw, valid: dict):
    """`valid` with up to three of its parts (or new keys) replaced by hostile values."""
    value = valid
    for _ in range(draw(st.integers(0, 3))):
        targets = list(paths(value)) + [("surprise",), ("item", "extra"), ("rule", "x"),
                                        ("evidence", "extra"), ("tcf", "x"),
                                        ("choices", 0, "extra")]
        path = draw(st.sampled_from(targets))
        try:
            value = mutate(value, path, draw(HOSTILE))
        except (KeyError, IndexError, TypeError):
            continue
    return value


SETTINGS = settings(max_examples=600, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(hostile(a_decision()))
def test_a_decision_loads_as_marshmallow_loads_it(data):
    assert outcome(DecisionSchema(), data) == reference(DecisionSchema(), data)


@SETTINGS
@given(st.lists(hostile(a_decision()), min_size=0, max_size=4))
def test_a_batch_loads_as_marshmallow_loads_it(decisions):
    data = {"decisions": decisions}
    assert outcome(DecisionBatchSchema(), data) == reference(DecisionBatchSchema(), data)


@SETTINGS
@given(hostile(a_record()))
def test_an_import_record_loads_as_marshmallow_loads_it(data):
    assert outcome(ImportRecordSchema(), data) == reference(ImportRecordSchema(), data)


@SETTINGS
@given(hostile(a_write()))
def test_a_consent_write_loads_as_marshmallow_loads_it(data):
    assert outcome(ConsentWriteSchema(), data) == reference(ConsentWriteSchema(), data)


@pytest.mark.parametrize(("schema", "valid"), [(DecisionSchema, a_decision()),
                                               (ImportRecordSchema, a_record()),
                                               (ConsentWriteSchema, a_write()),
                                               (ConsentWriteSchema, {"source": "x",
                                                                     "choices": []})])
def test_the_common_shape_takes_the_fast_path(schema, valid):
    # Not vacuous: the well-formed shape is loaded without marshmallow's machinery.
    loader = fastload._compile(schema())
    assert loader is not None and loader(valid) == reference(schema(), valid)[1]


def test_a_batch_at_the_limit_and_past_it():
    decisions = [a_decision(i) for i in range(1000)]
    loaded = DecisionBatchSchema().load({"decisions": decisions})
    assert [d["item"]["id"] for d in loaded["decisions"]] == [f"sku-{i}" for i in range(1000)]
    assert loaded["decisions"][0]["decided_at"] == NOW - timedelta(seconds=59.877)
    assert outcome(DecisionBatchSchema(), {"decisions": [*decisions, a_decision()]}) == (
        "invalid", {"decisions": ["Length must be between 1 and 1000."]})


def test_a_schema_with_hooks_always_takes_marshmallow():
    class Hooked(fastload.FastLoad, ma.Schema):
        name = ma.fields.String()

        @ma.post_load
        def shout(self, data, **kwargs):
            return {"name": data["name"].upper()}

    assert fastload._compile(Hooked()) is None
    assert Hooked().load({"name": "a"}) == {"name": "A"}
