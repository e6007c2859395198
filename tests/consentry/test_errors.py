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
