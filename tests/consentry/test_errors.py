"""Every error leaves in the one envelope, with a request id, and never leaks internals."""

import logging

import marshmallow as ma
import pytest
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy.exc import OperationalError

from consentry.api import api
from consentry.auth import scoped


class EchoSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(max=5))
    items = ma.fields.List(ma.fields.Nested(
        ma.Schema.from_dict({"status": ma.fields.String(required=True)})))


@pytest.fixture
def echo_app(make_app):
    """An app with one extra JSON endpoint and one that crashes."""
    app = make_app()
    blp = Blueprint("echo", __name__)

    @blp.route("/test/echo")
    class Echo(MethodView):
        @scoped("policy:read")
        @blp.arguments(EchoSchema)
        @blp.response(200)
        def post(self, body):
            return body

    @blp.route("/test/crash")
    class Crash(MethodView):
        @scoped("policy:read")
        @blp.response(200)
        def get(self):
            raise RuntimeError("secret internals: password=hunter2")

    @blp.route("/test/crash/<subject:subject_id>")
    class SubjectCrash(MethodView):
        @scoped("policy:read")
        @blp.response(200)
        def get(self, subject_id):
            if subject_id.startswith("db"):
                raise OperationalError("SELECT 1", {}, Exception("database is locked"))
            raise RuntimeError("boom")

    with app.app_context():
        api.register_blueprint(blp)
    return app


def assert_envelope(response, status, code):
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert response.headers["X-Request-Id"] == body["error"]["request_id"]
    return body["error"]


def test_unknown_route_is_404_envelope(client):
    assert_envelope(client.get("/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_405_envelope(client, admin):
    assert_envelope(client.delete("/v1/policy", headers=admin), 405, "method_not_allowed")


def test_malformed_json_is_400(echo_app, admin):
    r = echo_app.test_client().post("/test/echo", data="{not json", headers=admin,
                                    content_type="application/json")
    assert_envelope(r, 400, "malformed_json")


def test_validation_is_422_with_dotted_fields(echo_app, admin):
    r = echo_app.test_client().post("/test/echo", json={"name": "toolong", "items": [{}]},
                                    headers=admin)
    err = assert_envelope(r, 422, "validation_error")
    assert "name" in err["fields"]
    assert "items.0.status" in err["fields"]


def test_body_over_limit_is_413(echo_app, admin):
    r = echo_app.test_client().post("/test/echo", data="x" * (1024 * 1024 + 1), headers=admin,
                                    content_type="application/json")
    assert_envelope(r, 413, "payload_too_large")


def test_crash_is_500_without_internals_and_logged_with_request_id(echo_app, admin, caplog):
    with caplog.at_level(logging.ERROR, logger="consentry.errors"):
        r = echo_app.test_client().get("/test/crash", headers={**admin, "X-Request-Id": "rq-1"})
    err = assert_envelope(r, 500, "internal_error")
    assert "hunter2" not in r.get_data(as_text=True)
    assert err["request_id"] == "rq-1"
    assert any("rq-1" in rec.getMessage() and rec.exc_info for rec in caplog.records)


@pytest.mark.parametrize("subject, status", [("alice@example.com", 500),
                                             ("db-alice@example.com", 503)])
def test_error_logs_name_the_route_not_the_subject(echo_app, admin, caplog, subject, status):
    with caplog.at_level(logging.ERROR, logger="consentry.errors"):
        r = echo_app.test_client().get(f"/test/crash/{subject}", headers=admin)
    assert r.status_code == status
    logged = [rec.getMessage() for rec in caplog.records if rec.name == "consentry.errors"]
    assert logged and all("route=/test/crash/<subject:subject_id>" in m for m in logged)
    assert not any("alice" in m for m in logged)


def test_every_response_has_a_request_id(client):
    assert client.get("/healthz").headers["X-Request-Id"]
    assert client.get("/healthz", headers={"X-Request-Id": "abc"}).headers["X-Request-Id"] == "abc"


def test_openapi_documents_the_envelope(client):
    spec = client.get("/openapi.json").get_json()
    error = spec["components"]["schemas"]["Error"]
    assert "error" in error["properties"]
    op = spec["paths"]["/v1/policy"]["get"]
    assert {"401", "403"} <= set(op["responses"])
    assert op["security"] == [{"apiKey": []}]


def test_a_body_without_a_json_content_type_is_415_and_changes_nothing(client, admin):
    # curl -d sends form-encoded; a missing type is no better: neither is read as empty
    for content_type in ("application/x-www-form-urlencoded", "text/plain", None):
        r = client.post("/v1/retention/runs", data='{"dry_run": true}', headers=admin,
                        content_type=content_type)
        err = assert_envelope(r, 415, "unsupported_media_type")
        assert "application/json" in err["message"]
    assert client.get("/v1/retention/runs", headers=admin).get_json()["runs"] == []


def test_415_on_every_kind_of_route(client, admin):
    for method, url in [("put", "/v1/subjects/u-1/consents"), ("post", "/v1/audit/exports"),
                        ("post", "/v1/subjects/u-1/erasure"), ("post", "/v1/decisions"),
                        ("delete", "/v1/subjects/u-1/opt-out?scope=all")]:
        r = getattr(client, method)(url, data="{}", headers=admin, content_type="text/plain")
        assert_envelope(r, 415, "unsupported_media_type")
    # a JSON type with parameters is JSON; an empty body needs no type
    r = client.post("/v1/retention/runs", data='{"dry_run": true}', headers=admin,
                    content_type="application/json; charset=utf-8")
    assert r.status_code == 202
    assert client.post("/v1/subjects/u-1/erasure", headers=admin).status_code == 202


HOSTILE_BODIES = [
    (b'{"name": "a", "n": NaN}', 400, "malformed_json"),
    (b'{"name": "a", "n": Infinity}', 400, "malformed_json"),
    (b'{"name": "a", "n": -Infinity}', 400, "malformed_json"),
    (b'{"name": "\\ud800"}', 400, "malformed_json"),
    (b'{"name": "a", "\\udfff": 1}', 400, "malformed_json"),
    (b'{"name": "\xff\xfe"}', 400, "malformed_json"),
    (b'{"name": "a", "n": ' + b"1" * 5000 + b"}", 422, "validation_error"),
    (b'{"name": "a", "n": 9223372036854775808}', 422, "validation_error"),
    (b'{"name": "a", "n": -9223372036854775809}', 422, "validation_error"),
    (b'{"name": "a", "n": 1e400}', 422, "validation_error"),
    (b'{"name": "a", "n": 0.' + b"1" * 5000 + b"}", 422, "validation_error"),
    (b"[" * 100_000 + b"]" * 100_000, 422, "validation_error"),
    (b'{"name": "a", "n": ' + b"[" * 33 + b"]" * 33 + b"}", 422, "validation_error"),
]


@pytest.mark.parametrize("body,status,code", HOSTILE_BODIES)
def test_json_the_service_will_not_read_is_a_4xx(echo_app, admin, body, status, code):
    r = echo_app.test_client().post("/test/echo", data=body, headers=admin,
                                    content_type="application/json")
    assert_envelope(r, status, code)


def test_json_inside_the_limits_is_read(echo_app, admin):
    body = ('{"name": "\\ud83d\\ude00", "items": [], "n": ' + "[" * 31 + "]" * 31
            + ', "i": 9223372036854775807, "f": 0.1}')
    r = echo_app.test_client().post("/test/echo", data=body, headers=admin,
                                    content_type="application/json")
    # past the body check: the schema speaks (unknown fields), not the JSON reader
    assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == {"n", "i", "f"}


def test_nul_characters_are_refused_wherever_they_come(client, admin):
    # PostgreSQL cannot store NUL in text: each of these once reached it as a 500
    for url, field in [("/v1/subjects/u-1/explanations?surface=%00", "surface"),
                       ("/v1/audit/entries?action=a%00b", "action"),
                       ("/v1/subjects/u-1/explanations/a%00b", "decision_id")]:
        err = assert_envelope(client.get(url, headers=admin), 422, "validation_error")
        assert field in err["fields"], url
    r = client.put("/v1/subjects/u-1/consents", headers=admin, json={
        "source": "pc\x00", "choices": [{"purpose": "personalization", "status": "granted"}]})
    assert "NUL" in assert_envelope(r, 422, "validation_error")["message"]
    r = client.get("/v1/policy", headers={"Authorization": "Bearer csk_\x00_" + "a" * 64})
    assert_envelope(r, 401, "unauthorized")
