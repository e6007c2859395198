"""One home per rule: the subject id, the configuration, the documented response shapes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consentry.config import SETTINGS, load_config

BAD_SUBJECT = "not ok!"
RULE = "Must be 1-128 characters of A-Z a-z 0-9 . _ : @ -"


def _subject_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) whose route takes a subject id, with the bad id filled in."""
    routes = []
    for rule in app.url_map.iter_rules():
        if "subject_id" not in rule.arguments:
            continue
        path = rule.rule.replace("<subject:subject_id>", BAD_SUBJECT)
        path = re.sub(r"<[^>]+>", "x", path)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, path))
    return routes


def test_every_route_that_takes_a_subject_id_answers_a_bad_one_alike(app, client, admin):
    routes = _subject_routes(app)
    assert len(routes) >= 10  # consents, history, receipts, opt-out, gate, explanations, erasure
    for method, path in routes:
        r = client.open(path, method=method, headers=admin, json={})
        body = r.get_json()
        assert r.status_code == 422, (method, path, r.status_code)
        assert body["error"]["message"] == f"Invalid subject_id {BAD_SUBJECT!r}.", (method, path)
        assert body["error"]["fields"] == {"subject_id": [RULE]}, (method, path)


def test_a_bad_subject_id_in_a_body_or_query_names_its_field_with_the_same_rule(client, admin):
    decision = client.post("/v1/decisions", headers=admin, json={
        "subject_id": BAD_SUBJECT, "surface": "home", "item": {"id": "i"},
        "decided_at": datetime.now(UTC).isoformat()})
    hold = client.post("/v1/retention/holds", headers=admin,
                       json={"subject_id": BAD_SUBJECT, "reason": "case 1"})
    audit = client.get("/v1/audit/entries", headers=admin,
                       query_string={"subject_id": BAD_SUBJECT})
    for r in (decision, hold, audit):
        assert r.status_code == 422
        assert r.get_json()["error"]["fields"] == {"subject_id": [RULE]}


def test_the_openapi_document_states_the_subject_id_rule(client):
    spec = client.get("/openapi.json").get_json()
    params = spec["paths"]["/v1/subjects/{subject_id}/consents"]["parameters"]
    subject = next(p for p in params if p["name"] == "subject_id")
    assert subject["schema"]["pattern"] == "^[A-Za-z0-9._:@-]{1,128}$"


def _readme_variables() -> set[str]:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return {name for line in section.splitlines() if line.startswith("| `")
            for name in re.findall(r"`([A-Z_]+)`", line.split("|")[1])}


def test_the_readme_configuration_table_lists_exactly_the_settings():
    assert _readme_variables() == {s.variable for s in SETTINGS}


def test_configuration_is_read_from_the_environment_given(tmp_path):
    config = load_config(environ={"CONSENTRY_RETENTION_BATCH_ROWS": "500",
                                  "CONSENTRY_MAX_BODY_BYTES": "2048",
                                  "CONSENTRY_LOG_LEVEL": "DEBUG"})
    assert config["RETENTION_BATCH_ROWS"] == 500
    assert config["MAX_CONTENT_LENGTH"] == 2048
    assert config["LOG_LEVEL"] == "DEBUG"
    assert load_config(environ={})["RETENTION_BATCH_ROWS"] == 10_000
    with pytest.raises(ValueError, match="CONSENTRY_RETENTION_BATCH_ROWS"):
        load_config(environ={"CONSENTRY_RETENTION_BATCH_ROWS": "many"})


def _assert_documented(schema_cls, body) -> None:
    """The body has only documented fields, each of its documented type; timestamps in Z."""
    errors = schema_cls().validate(body)
    assert errors == {}, errors
    for value in _strings(body):
        if re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+([+-]\d\d:\d\d|Z)", value):
            assert value.endswith("Z"), value


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_fast_path_responses_match_their_documented_schemas(client, admin):
    from consent.schemas import (
        AllowedSignalsSchema,
        ConsentStateSchema,
        ConsentWriteResultSchema,
        SignalCheckResultSchema,
    )

    write = client.put("/v1/subjects/u-1/consents", headers=admin, json={
        "jurisdiction": "EU", "source": "test",
        "choices": [{"purpose": "personalization", "category": "behavioral",
                     "status": "granted"},
                    {"purpose": "marketing", "channel": "email", "status": "granted"}]})
    assert write.status_code == 200
    _assert_documented(ConsentWriteResultSchema, write.get_json())
    state = client.get("/v1/subjects/u-1/consents", headers=admin)
    _assert_documented(ConsentStateSchema, state.get_json())
    past = client.get("/v1/subjects/u-1/consents", headers=admin,
                      query_string={"at": "2026-01-01T00:00:00Z"})
    _assert_documented(ConsentStateSchema, past.get_json())
    gate = client.get("/v1/subjects/u-1/allowed-signals", headers=admin,
                      query_string={"purpose": "personalization", "channel": "web"})
    _assert_documented(AllowedSignalsSchema, gate.get_json())
    batch = client.post("/v1/signals/check", headers=admin, json={
        "purpose": "personalization", "subjects": ["u-1", "u-2"]})
    _assert_documented(SignalCheckResultSchema, batch.get_json())


def test_every_timestamp_in_audit_and_retention_answers_ends_in_z(client, admin):
    client.put("/v1/subjects/u-1/consents", headers=admin, json={
        "source": "test", "choices": [{"purpose": "personalization", "status": "granted"}]})
    client.post("/v1/retention/holds", headers=admin,
                json={"subject_id": "u-1", "reason": "case", "until": "2099-01-01T00:00:00Z"})
    client.post("/v1/retention/runs", headers=admin, json={"dry_run": True})
    for path in ("/v1/audit/entries", "/v1/retention/holds", "/v1/retention/runs"):
        body = client.get(path, headers=admin).get_json()
        stamps = [v for v in _strings(body)
                  if re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+([+-]\d\d:\d\d|Z)", v)]
        assert stamps, path
        assert all(v.endswith("Z") for v in stamps), (path, stamps)
