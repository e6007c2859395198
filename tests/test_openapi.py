"""The OpenAPI document tells the truth: it is valid, it declares the headers and errors
the service really sends, what the open endpoints answer, and a client generated from it
works against the running service."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import uuid
from datetime import date
from http import HTTPStatus

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

METHODS = ("get", "put", "post", "delete", "patch")
# The writes that honour Idempotency-Key (consentry.idempotency.idempotent).
IDEMPOTENT = {("put", "/v1/subjects/{subject_id}/consents"),
              ("post", "/v1/subjects/{subject_id}/opt-out"),
              ("post", "/v1/subjects/{subject_id}/consents/reject-all"),
              ("delete", "/v1/subjects/{subject_id}/opt-out"),
              ("post", "/v1/decisions"), ("post", "/v1/decisions/batch"),
              ("post", "/v1/retention/runs"),
              ("post", "/v1/retention/holds"), ("delete", "/v1/retention/holds/{hold_id}"),
              ("post", "/v1/subjects/{subject_id}/erasure"),
              ("post", "/v1/requests"), ("post", "/v1/requests/{request_id}/transition"),
              ("post", "/v1/requests/{request_id}/extend")}
CONSENT_WRITES = {("put", "/v1/subjects/{subject_id}/consents"),
                  ("post", "/v1/subjects/{subject_id}/opt-out"),
                  ("delete", "/v1/subjects/{subject_id}/opt-out")}
# The routes that answer in the language Accept-Language asks for.
LANGUAGE = CONSENT_WRITES | {("get", "/v1/policy"),
                             ("post", "/v1/subjects/{subject_id}/consents/reject-all"),
                             ("get", "/v1/subjects/{subject_id}/consents"),
                             ("get", "/v1/subjects/{subject_id}/explanations"),
                             ("get", "/v1/subjects/{subject_id}/explanations/{decision_id}")}
# Request bodies whose unknown fields the service reads (a decision's `item` is open).
OPEN_REQUEST_SCHEMAS = {"Item"}


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").get_json()


def operations(spec):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def resolve(spec, node: dict) -> dict:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = spec["components"][section][name]
    return node


def header_names(spec, operation) -> set[str]:
    return {resolve(spec, p)["name"] for p in operation.get("parameters", ())
            if resolve(spec, p)["in"] == "header"}


def response_headers(spec, response) -> set[str]:
    return set(resolve(spec, response).get("headers", {}))


def conforms(spec, name: str, instance) -> None:
    """Validate `instance` against the component schema `name`."""
    OAS30Validator({"$ref": f"#/components/schemas/{name}",
                    "components": spec["components"]}).validate(instance)


def test_the_document_is_valid_openapi(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_every_answer_declares_x_request_id_and_every_retry_after_is_declared(
        spec, client, admin):
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            assert "X-Request-Id" in response_headers(spec, response), (method, path, status)
    for name in ("TOO_MANY_REQUESTS", "SERVICE_UNAVAILABLE"):
        assert {"X-Request-Id", "Retry-After"} <= response_headers(
            spec, spec["components"]["responses"][name])
    assert "WWW-Authenticate" in response_headers(spec, spec["components"]["responses"][
        "UNAUTHORIZED"])
    # ... and the service sends what is declared.
    refused = client.get("/v1/policy")
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert refused.headers["X-Request-Id"] == refused.get_json()["error"]["request_id"]
    assert client.get("/v1/policy", headers=admin).headers["X-Request-Id"]
    assert client.get("/healthz", headers={"X-Request-Id": "mine"}).headers[
        "X-Request-Id"] == "mine"


def test_request_headers_are_declared_where_they_are_read(spec):
    for method, path, operation in operations(spec):
        headers = header_names(spec, operation)
        assert ("Idempotency-Key" in headers) == ((method, path) in IDEMPOTENT), (method, path)
        assert ("Sec-GPC" in headers) == ((method, path) in CONSENT_WRITES), (method, path)
        assert ("Accept-Language" in headers) == ((method, path) in LANGUAGE), (method, path)


def test_idempotent_writes_declare_replays_and_conflicts(spec, client, make_key):
    for method, path in IDEMPOTENT:
        responses = spec["paths"][path][method]["responses"]
        assert "409" in responses, (method, path)
        success = [s for s in responses if s.startswith("2")]
        assert success and all("Idempotent-Replayed" in response_headers(spec, responses[s])
                               for s in success), (method, path)
    key = {**make_key("preferences:write"), "Idempotency-Key": "k-1"}
    body = {"source": "t", "choices": [{"purpose": "marketing", "status": "granted"}]}
    first = client.put("/v1/subjects/i-1/consents", json=body, headers=key)
    again = client.put("/v1/subjects/i-1/consents", json=body, headers=key)
    other = client.put("/v1/subjects/i-1/consents", json={**body, "source": "u"}, headers=key)
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert other.status_code == 409


def test_every_4xx_a_route_gives_is_declared(spec, client, admin):
    for method, path, operation in operations(spec):
        declared = set(operation["responses"])
        if operation.get("security"):
            assert {"401", "403", "429", "503"} <= declared, (method, path)
        if "requestBody" in operation:
            assert {"400", "413", "415", "422"} <= declared, (method, path)
        queries = [p for p in operation.get("parameters", ()) if resolve(spec, p)["in"] == "query"]
        if "{" in path or queries:  # a rule broken, a NUL
            assert "422" in declared, (method, path)
        if path.count("{") > path.count("{subject_id}") and method != "put":
            assert "404" in declared, (method, path)  # an id besides the subject's
        for status in declared - {"default"}:
            response = resolve(spec, operation["responses"][status])
            assert response["description"], (method, path, status)
    # Each declared kind, as the service really answers it.
    assert client.get("/v1/retention/runs/nope", headers=admin).status_code == 404
    assert client.get("/v1/subjects/u-1/receipts/nope", headers=admin).status_code == 404
    too_big = client.put("/v1/subjects/u-1/consents", headers=admin,
                         data=b"{" + b" " * (1024 * 1024 + 1) + b"}",
                         content_type="application/json")
    assert too_big.status_code == 413
    assert too_big.get_json()["error"]["code"] == "payload_too_large"
    not_json = client.put("/v1/subjects/u-1/consents", headers=admin, data="source=t",
                          content_type="application/x-www-form-urlencoded")
    assert not_json.status_code == 415
    assert not_json.get_json()["error"]["code"] == "unsupported_media_type"
    assert client.get("/v1/retention/runs/a%00b", headers=admin).status_code == 422
    assert client.post("/v1/subjects/u%20/erasure", headers=admin).status_code == 422


def test_answers_may_grow_but_requests_stay_closed(spec, client, admin):
    schemas = spec["components"]["schemas"]

    def reach(node, seen):
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/") and ref.split("/")[-1] not in seen:
                seen.add(ref.split("/")[-1])
                reach(schemas[ref.split("/")[-1]], seen)
            for value in node.values():
                reach(value, seen)
        elif isinstance(node, list):
            for value in node:
                reach(value, seen)
        return seen

    read, answered = set(), set()
    for _method, _path, operation in operations(spec):
        reach(operation.get("requestBody", {}), read)
        for response in operation["responses"].values():
            reach(resolve(spec, response), answered)
    assert {"ConsentWrite", "Choice", "Decision", "HoldRequest", "SignalCheck"} <= read
    assert {"ConsentState", "AllowedSignals", "Receipt", "Error", "ErrorDetail", "Jwks",
            "Signature"} <= answered
    for name in answered - read:
        assert schemas[name]["additionalProperties"] is True, name
    for name in read - OPEN_REQUEST_SCHEMAS:
        assert schemas[name]["additionalProperties"] is False, name
    # A request's unknown field is still refused, as the document says.
    r = client.put("/v1/subjects/u-1/consents", headers=admin, json={
        "source": "t", "choices": [{"purpose": "marketing", "status": "granted"}], "extra": 1})
    assert r.status_code == 422 and "extra" in r.get_json()["error"]["fields"]


def test_open_endpoints_and_the_bundle_declare_their_content(spec, client):
    def content(path, status="200"):
        return spec["paths"][path]["get"]["responses"][status]["content"]

    keys = client.get("/.well-known/consentry-keys")
    conforms(spec, "Jwks", keys.get_json())
    jwk = resolve(spec, resolve(spec, content("/.well-known/consentry-keys")[
        "application/json"]["schema"])["properties"]["keys"]["items"])
    assert {"kty", "crv", "x", "kid", "alg"} <= set(jwk["properties"])
    conforms(spec, "Gpc", client.get("/.well-known/gpc.json").get_json())
    assert set(schema_of(spec, content("/.well-known/gpc.json"))["properties"]) == {
        "gpc", "lastUpdate"}
    metrics = client.get("/metrics")
    assert list(content("/metrics")) == [metrics.content_type]
    assert content("/metrics")[metrics.content_type]["schema"]["type"] == "string"
    conforms(spec, "Health", client.get("/healthz").get_json())
    conforms(spec, "Ready", client.get("/readyz").get_json())
    assert content("/v1/audit/exports/{export_id}") == {
        "application/zip": {"schema": {"type": "string", "format": "binary"}}}


def schema_of(spec, content: dict) -> dict:
    return resolve(spec, content["application/json"]["schema"])


def test_at_is_documented_as_a_timestamp_or_a_date(spec):
    parameters = spec["paths"]["/v1/subjects/{subject_id}/consents"]["get"]["parameters"]
    at = next(p for p in parameters if p["name"] == "at")
    assert {s.get("format") for s in at["schema"]["anyOf"]} == {"date-time", "date"}


def generate_client(spec: dict, tmp_path):
    """Generate a Python client from `spec` with openapi-python-client; import it."""
    (tmp_path / "openapi.json").write_text(json.dumps(spec), "utf-8")
    # No formatter run (offline, nothing else needed); the zip is a binary download.
    (tmp_path / "config.yaml").write_text(
        "post_hooks: []\ncontent_type_overrides:\n  application/zip: application/octet-stream\n",
        "utf-8")
    package = f"consentry_generated_{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate",
         "--path", str(tmp_path / "openapi.json"), "--config", str(tmp_path / "config.yaml"),
         "--meta", "none", "--output-path", str(tmp_path / package), "--fail-on-warning"],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        return package, importlib.import_module(package)
    finally:
        sys.path.remove(str(tmp_path))


@pytest.fixture
def generated(spec, tmp_path):
    package, module = generate_client(spec, tmp_path)
    yield lambda name: importlib.import_module(f"{package}.{name}")
    for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
        del sys.modules[name]


def test_a_generated_client_writes_consent_and_asks_the_gate(generated, live_server, make_key):
    client_module, models = generated("client"), generated("models")
    put_consents = generated("api.consent.put_v1_subjects_subject_id_consents")
    get_consents = generated("api.consent.get_v1_subjects_subject_id_consents")
    allowed_signals = generated("api.signals.get_v1_subjects_subject_id_allowed_signals")
    key = make_key("preferences:write", "preferences:read", "signals:read")
    client = client_module.AuthenticatedClient(base_url=live_server,
                                               token=key["Authorization"][7:])
    body = models.ConsentWrite(source="generated-client", jurisdiction="EU", choices=[
        models.Choice(purpose="personalization", category="location_precise",
                      status=models.ChoiceStatus.GRANTED)])

    written = put_consents.sync_detailed("gen-1", client=client, body=body,
                                         idempotency_key="gen-write-1")
    assert written.status_code == HTTPStatus.OK
    assert isinstance(written.parsed, models.ConsentWriteResult)
    assert written.parsed.receipt.receipt_id and written.headers["X-Request-Id"]
    replay = put_consents.sync_detailed("gen-1", client=client, body=body,
                                        idempotency_key="gen-write-1")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.parsed.receipt.receipt_id == written.parsed.receipt.receipt_id

    gate = allowed_signals.sync_detailed("gen-1", client=client, purpose="personalization",
                                         channel="web")
    assert gate.status_code == HTTPStatus.OK
    assert isinstance(gate.parsed, models.AllowedSignals)
    assert "location_precise" in gate.parsed.allowed
    assert all(isinstance(d, models.Denied) for d in gate.parsed.denied)
    assert gate.parsed.token.count(".") == 2

    today = get_consents.sync_detailed("gen-1", client=client, at=date.today())
    assert isinstance(today.parsed, models.ConsentState), today.content
    refused = allowed_signals.sync_detailed("gen-1", client=client, purpose="telepathy")
    assert refused.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert isinstance(refused.parsed, models.Error)
    assert refused.parsed.error.code == "validation_error"
