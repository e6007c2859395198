"""The retention HTTP API: scopes, runs, holds, erasures, errors in the envelope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from consentry_client import verify_certificate
from sqlalchemy import select, text

from audit.models import AuditEntry
from consentry.db import get_db
from consentry.scheduler import run_leased
from consentry.secretstore import get_keys
from consentry.signing import SignatureError, keys_by_kid, verify_document
from tests.retention.test_targets import make_table, remaining, target


def poll(app):
    """One tick of the scheduler's poller, as the scheduler process runs it."""
    assert run_leased(app, app.extensions["consentry.jobs"]["retention-poll"], "test-scheduler")


def actions(app) -> list[str]:
    with app.app_context(), get_db(app).transaction(write=False) as s:
        return list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def test_every_route_declares_a_scope(app):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/"):
            continue
        view = app.view_functions[rule.endpoint]
        cls = getattr(view, "view_class", None)
        assert cls is not None, rule.rule
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            handler = getattr(cls, method.lower())
            assert getattr(handler, "required_scope", None), f"{method} {rule.rule}"


def test_scopes_are_enforced(client, make_key):
    reader = make_key("policy:read")
    assert client.get("/v1/retention/runs").status_code == 401
    r = client.get("/v1/retention/runs", headers=reader)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    assert client.post("/v1/subjects/u-1/erasure", headers=make_key("retention:admin")
                       ).status_code == 403


def test_retention_policy_shows_classes_and_targets(retention_app, external_url, make_key):
    app = retention_app([target("web_events", external_url.replace("//", "//user:s3cret@", 1)
                                if "postgresql" in external_url else external_url)])
    r = app.test_client().get("/v1/retention/policy", headers=make_key("retention:admin"))
    body = r.get_json()
    assert r.status_code == 200
    classes = {c["name"]: c for c in body["classes"]}
    assert classes["behavioral"]["days"] == 90
    assert classes["transactional"]["days"] == 730
    assert classes["profile"]["days"] is None and classes["profile"]["kept_for_account_lifetime"]
    kinds = {t["name"]: t["kind"] for t in body["targets"]}
    assert kinds["web_events"] == "external"
    assert {kinds[n] for n in ("decisions", "idempotency_records", "consent_evidence",
                               "audit_exports", "change_feed")} == {"internal"}
    assert "s3cret" not in r.get_data(as_text=True)


def test_retention_policy_hides_secrets_in_a_target_query(retention_app, make_key, tmp_path):
    app = retention_app([target("shop", f"sqlite:///{tmp_path}/shop.db?password=s3cret"
                                        f"&sslpassword=t0ps3cret&mode=ro")])
    r = app.test_client().get("/v1/retention/policy", headers=make_key("retention:admin"))
    shop = next(t for t in r.get_json()["targets"] if t["name"] == "shop")
    assert shop["url"].endswith("shop.db?mode=ro&password=***&sslpassword=***")
    assert "s3cret" not in r.get_data(as_text=True)


def test_a_queued_run_is_carried_out_by_the_poller(retention_app, external, external_url,
                                                   make_key):
    old = (datetime.now(UTC) - timedelta(days=200)).isoformat()
    new = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    make_table(external, "ev", "TEXT", [
        {"id": 1, "user_id": "u1", "kind": "behavioral", "ts": old},
        {"id": 2, "user_id": "u2", "kind": "behavioral", "ts": new}])
    app = retention_app([target("ev", external_url)])
    client, headers = app.test_client(), make_key("retention:admin")

    r = client.post("/v1/retention/runs", json={"dry_run": False, "targets": ["ev"]},
                    headers=headers)
    assert r.status_code == 202, r.get_json()
    run_id = r.get_json()["run_id"]
    assert client.get(f"/v1/retention/runs/{run_id}", headers=headers).get_json()["status"] \
        == "queued"

    poll(app)

    run = client.get(f"/v1/retention/runs/{run_id}", headers=headers).get_json()
    assert run["status"] == "succeeded"
    assert run["targets"] == [{**run["targets"][0], "name": "ev", "matched": 1, "deleted": 1,
                               "held": 0, "error": None, "status": "succeeded"}]
    assert set(run["cutoffs"]) == {"behavioral", "transactional", "profile"}
    assert run["cutoffs"]["profile"] is None
    assert run["started_at"] and run["finished_at"]
    assert remaining(external, "ev") == {2}
    assert {"retention.run.queued", "retention.run.finished"} <= set(actions(app))


def test_a_run_is_dry_unless_it_says_dry_run_false(client, admin):
    runs = [client.post("/v1/retention/runs", json=body, headers=admin).get_json()["run_id"]
            for body in ({}, {"targets": ["decisions"]}, {"dry_run": False})]
    dry = [client.get(f"/v1/retention/runs/{run_id}", headers=admin).get_json()["dry_run"]
           for run_id in runs]
    assert dry == [True, True, False]


def test_runs_list_is_paginated_newest_first(client, admin):
    ids = [client.post("/v1/retention/runs", json={"dry_run": True}, headers=admin
                       ).get_json()["run_id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        url = "/v1/retention/runs?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=admin).get_json()
        assert len(body["runs"]) <= 2
        seen += [r["run_id"] for r in body["runs"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5


@pytest.mark.parametrize("method,url,body,status", [
    ("post", "/v1/retention/runs", {"targets": ["nope"]}, 422),
    ("post", "/v1/retention/runs", {"dry_run": "perhaps"}, 422),
    ("post", "/v1/retention/runs", {"targets": []}, 422),
    ("get", "/v1/retention/runs?limit=0", None, 422),
    ("get", "/v1/retention/runs?limit=5000", None, 422),
    ("get", "/v1/retention/runs?cursor=%%%", None, 422),
    ("get", "/v1/retention/runs?cursor=bm9wZQ", None, 422),
    ("get", "/v1/retention/holds?cursor=WyJ4IiwgMV0", None, 422),
    ("get", "/v1/retention/runs/" + "x" * 40, None, 404),
    ("get", "/v1/retention/runs/unknown", None, 404),
    ("post", "/v1/retention/holds", {"reason": "x"}, 422),
    ("post", "/v1/retention/holds", {"subject_id": "u", "category": "behavioral",
                                     "reason": "x"}, 422),
    ("post", "/v1/retention/holds", {"subject_id": "bad id!", "reason": "x"}, 422),
    ("post", "/v1/retention/holds", {"subject_id": "u" * 129, "reason": "x"}, 422),
    ("post", "/v1/retention/holds", {"category": "astrology", "reason": "x"}, 422),
    ("post", "/v1/retention/holds", {"subject_id": "u", "reason": " "}, 422),
    ("post", "/v1/retention/holds", {"subject_id": "u", "reason": "x",
                                     "until": "2020-01-01T00:00:00Z"}, 422),
    ("post", "/v1/retention/holds", {"subject_id": "u", "reason": "x",
                                     "until": "2099-01-01T00:00:00"}, 422),
    ("delete", "/v1/retention/holds/nope", None, 404),
    ("post", "/v1/subjects/bad%20id/erasure", None, 422),
    ("post", "/v1/subjects/" + "a" * 129 + "/erasure", None, 422),
    ("get", "/v1/erasures/nope", None, 404),
])
def test_bad_input_is_a_4xx_in_the_envelope(client, admin, method, url, body, status):
    r = getattr(client, method)(url, json=body, headers=admin)
    assert r.status_code == status, r.get_data(as_text=True)
    assert set(r.get_json()["error"]) >= {"code", "message"}


def test_malformed_json_is_a_400(client, admin):
    r = client.post("/v1/retention/holds", data="{", content_type="application/json",
                    headers=admin)
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "malformed_json"


def test_holds_are_created_listed_lifted_and_audited(app, client, admin):
    r = client.post("/v1/retention/holds", json={"subject_id": "u-42", "reason": "case 17",
                                                 "until": "2099-01-01T00:00:00Z"},
                    headers=admin)
    assert r.status_code == 201
    hold = r.get_json()
    assert hold["active"] and hold["until"] == "2099-01-01T00:00:00Z"
    r = client.post("/v1/retention/holds", json={"category": "financial", "reason": "audit"},
                    headers=admin)
    assert r.status_code == 201

    listed = client.get("/v1/retention/holds", headers=admin).get_json()
    assert len(listed["holds"]) == 2 and listed["next"] is None

    r = client.delete(f"/v1/retention/holds/{hold['id']}", headers=admin)
    assert r.status_code == 200 and r.get_json()["active"] is False
    assert client.delete(f"/v1/retention/holds/{hold['id']}", headers=admin).status_code == 200
    assert len(client.get("/v1/retention/holds", headers=admin).get_json()["holds"]) == 1
    everything = client.get("/v1/retention/holds?include_lifted=true", headers=admin).get_json()
    assert len(everything["holds"]) == 2
    assert actions(app).count("retention.hold.created") == 2
    assert actions(app).count("retention.hold.lifted") == 1


def test_erasure_deletes_the_subject_everywhere_but_what_a_hold_keeps(
        retention_app, external, external_url, make_key):
    now = datetime.now(UTC).isoformat()
    make_table(external, "ev", "TEXT", [
        {"id": 1, "user_id": "u-42", "kind": "behavioral", "ts": now},
        {"id": 2, "user_id": "u-42", "kind": "financial", "ts": now},
        {"id": 3, "user_id": "u-7", "kind": "behavioral", "ts": now}])
    make_table(external, "orders", "TEXT", [
        {"id": 1, "user_id": "u-42", "kind": "x", "ts": now}])
    app = retention_app([target("ev", external_url, category_column="kind"),
                         target("orders", external_url, **{"class": "transactional"})])
    client = app.test_client()
    eraser, admin = make_key("erasure:write"), make_key("retention:admin")
    hold = client.post("/v1/retention/holds", json={"category": "financial",
                                                    "reason": "tax audit 2026"}, headers=admin)
    assert hold.status_code == 201

    r = client.post("/v1/subjects/u-42/erasure", headers=eraser)
    assert r.status_code == 202
    erasure_id = r.get_json()["erasure_id"]
    assert client.get(f"/v1/erasures/{erasure_id}", headers=eraser).get_json()["status"] \
        == "queued"

    poll(app)

    # The rows a category hold keeps stay; the erasure waits for the hold, by its id.
    body = client.get(f"/v1/erasures/{erasure_id}", headers=eraser).get_json()
    assert body["status"] == "held" and body["certificate"] is None, body
    assert body["waiting_for_holds"] == [hold.get_json()["id"]]
    assert remaining(external, "ev") == {2, 3}
    assert remaining(external, "orders") == set()
    ev = next(t for t in body["targets"] if t["name"] == "ev")
    assert (ev["deleted"], ev["held"]) == (1, 1)

    client.delete(f"/v1/retention/holds/{hold.get_json()['id']}", headers=admin)
    poll(app)

    body = client.get(f"/v1/erasures/{erasure_id}", headers=eraser).get_json()
    assert body["status"] == "succeeded", body
    assert remaining(external, "ev") == {3}
    document = body["certificate"]["document"]
    assert document["targets"]["ev"] == {"kind": "external", "deleted": 2,
                                         "status": "succeeded"}
    assert document["targets"]["orders"]["deleted"] == 1
    assert document["rows_deleted"] == 3
    assert document["held_by"] == [{"hold_id": hold.get_json()["id"], "by": "category",
                                    "category": "financial"}]
    assert "tax audit" not in str(document)  # holds are named by id, never by reason
    with app.app_context():

        assert document["subject_ref"] == get_keys().subject_ref("u-42")
    assert "u-42" not in str(body)
    jwks = client.get("/.well-known/consentry-keys").get_json()
    verify_document(keys_by_kid(jwks), document, body["certificate"]["signature"])
    assert verify_certificate(body["certificate"], jwks) == document  # the engine client's
    with pytest.raises(SignatureError):
        verify_certificate({**body["certificate"],
                            "document": {**document, "rows_deleted": 0}}, jwks)
    assert {"erasure.requested", "erasure.held", "erasure.completed"} <= set(actions(app))


def test_erasure_shreds_the_subjects_audit_key(app, client, admin):
    from audit.models import SubjectKey
    from audit.service import append_entry

    with app.app_context(), get_db(app).transaction() as s:
        append_entry(s, get_keys(), "test.personal", subject_id="u-9",
                     personal={"ip": "203.0.113.7"})
    erasure_id = client.post("/v1/subjects/u-9/erasure", headers=admin).get_json()["erasure_id"]
    poll(app)

    body = client.get(f"/v1/erasures/{erasure_id}", headers=admin).get_json()
    assert body["certificate"]["document"]["audit_key_destroyed"] is True
    with app.app_context(), get_db(app).transaction(write=False) as s:
        assert s.get(SubjectKey, get_keys().subject_ref("u-9")).wrapped_key is None
        assert s.execute(text("SELECT subject_id FROM retention_erasures")).scalar() is None


def test_a_subject_under_hold_keeps_everything(retention_app, external, external_url, make_key):
    make_table(external, "ev", "TEXT", [
        {"id": 1, "user_id": "u-42", "kind": "behavioral", "ts": "2026-01-01T00:00:00Z"}])
    app = retention_app([target("ev", external_url)])
    client, headers = app.test_client(), make_key("admin")
    client.post("/v1/retention/holds", json={"subject_id": "u-42", "reason": "litigation"},
                headers=headers)
    erasure_id = client.post("/v1/subjects/u-42/erasure", headers=headers).get_json()["erasure_id"]
    poll(app)

    body = client.get(f"/v1/erasures/{erasure_id}", headers=headers).get_json()
    assert remaining(external, "ev") == {1}
    assert body["status"] == "held" and body["certificate"] is None
