"""What a privacy officer needs from retention: dry runs that say what they would delete,
erasures that carry a reason and can be listed, and read by audit readers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from consent.models import Decision
from consentry.db import get_db
from consentry.scheduler import run_leased
from tests.retention.conftest import by_target, run_now
from tests.retention.test_targets import make_table, remaining, target


def poll(app):
    assert run_leased(app, app.extensions["consentry.jobs"]["retention-poll"], "test-scheduler")


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def age_decisions(app, subject_id: str, days: int) -> None:
    """Make a subject's decisions `days` old (the API takes no decision that old)."""
    with app.app_context(), get_db(app).transaction() as s:
        s.execute(update(Decision).where(Decision.subject_id == subject_id)
                  .values(decided_at=datetime.now(UTC) - timedelta(days=days)))


def test_a_dry_run_reports_what_it_would_delete_apart_from_what_holds_keep(
        retention_app, external, external_url, make_key):
    now = datetime.now(UTC)
    old = (now - timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")
    new = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    make_table(external, "ev", "TEXT", [
        {"id": 1, "user_id": "kept", "kind": "behavioral", "ts": old},
        {"id": 2, "user_id": "gone", "kind": "behavioral", "ts": old},
        {"id": 3, "user_id": "gone", "kind": "behavioral", "ts": old},
        {"id": 4, "user_id": "gone", "kind": "behavioral", "ts": new}])
    app = retention_app([target("ev", external_url)])
    client, admin = app.test_client(), make_key("admin")
    for subject in ("kept", "gone", "new"):
        r = client.post("/v1/decisions", headers=admin, json={
            "subject_id": subject, "surface": "hero", "item": {"id": "1"},
            "decided_at": iso(now - timedelta(days=1))})
        assert r.status_code == 201, r.get_json()
    age_decisions(app, "kept", 120)
    age_decisions(app, "gone", 120)
    client.post("/v1/retention/holds", headers=admin,
                json={"subject_id": "kept", "reason": "litigation"})

    dry = run_now(app, dry_run=True, as_of=now)
    ev, decisions = by_target(dry)["ev"], by_target(dry)["decisions"]
    assert (ev["would_delete"], ev["held"], ev["deleted"]) == (2, 1, 0)
    assert (decisions["would_delete"], decisions["held"], decisions["deleted"]) == (1, 1, 0)
    assert dry["totals"]["would_delete"] >= 3 and remaining(external, "ev") == {1, 2, 3, 4}

    real = run_now(app, as_of=now)
    assert by_target(real)["ev"]["deleted"] == ev["would_delete"]  # the dry run was right
    assert by_target(real)["decisions"]["deleted"] == decisions["would_delete"]
    assert "would_delete" not in by_target(real)["ev"]
    assert "would_delete" not in real["totals"]


def test_an_erasure_keeps_its_reason_and_erasures_are_listed_newest_first(app, client,
                                                                          make_key):
    writer = make_key("erasure:write")
    first = client.post("/v1/subjects/u-1/erasure", headers=writer,
                        json={"reason": "DSR-1234 (email of 2 Nov)"}).get_json()
    second = client.post("/v1/subjects/u-2/erasure", headers=writer).get_json()  # no body
    assert second["status"] == "queued"

    page = client.get("/v1/erasures?limit=1", headers=writer).get_json()
    assert [e["erasure_id"] for e in page["erasures"]] == [second["erasure_id"]]
    assert page["erasures"][0]["reason"] is None
    rest = client.get("/v1/erasures", headers=writer,
                      query_string={"limit": 1, "cursor": page["next"]}).get_json()
    assert [e["erasure_id"] for e in rest["erasures"]] == [first["erasure_id"]]
    assert rest["erasures"][0]["reason"] == "DSR-1234 (email of 2 Nov)"
    assert rest["next"] is None
    one = client.get(f"/v1/erasures/{first['erasure_id']}", headers=writer).get_json()
    assert one["reason"] == "DSR-1234 (email of 2 Nov)"

    poll(app)
    done = client.get(f"/v1/erasures/{first['erasure_id']}", headers=writer).get_json()
    assert done["status"] == "succeeded" and done["reason"] == "DSR-1234 (email of 2 Nov)"


def test_the_reason_is_sealed_in_the_audit_entry_and_shredded_with_the_subject(
        app, client, admin):
    client.post("/v1/subjects/u-5/erasure", headers=admin, json={"reason": "ticket 88"})
    entry = client.get("/v1/audit/entries?action=erasure.requested",
                       headers=admin).get_json()["entries"][0]
    assert "ticket 88" not in str(entry["details"])
    assert entry["personal"] == {"reason": "ticket 88"}
    poll(app)
    entry = client.get("/v1/audit/entries?action=erasure.requested",
                       headers=admin).get_json()["entries"][0]
    assert entry["shredded"] is True and entry["personal"] is None


def test_a_reason_longer_than_500_characters_is_a_422(client, admin):
    r = client.post("/v1/subjects/u-6/erasure", headers=admin, json={"reason": "x" * 501})
    assert r.status_code == 422 and "reason" in r.get_json()["error"]["fields"]


def test_audit_readers_may_read_erasures_and_their_certificates(app, client, make_key):
    writer = make_key("erasure:write")
    erasure_id = client.post("/v1/subjects/u-7/erasure", headers=writer).get_json()[
        "erasure_id"]
    poll(app)
    legal = make_key("audit:read")
    assert client.get("/v1/erasures", headers=legal).status_code == 200
    one = client.get(f"/v1/erasures/{erasure_id}", headers=legal)
    assert one.status_code == 200 and one.get_json()["certificate"]["signature"]
    other = make_key("retention:admin")
    for path in ("/v1/erasures", f"/v1/erasures/{erasure_id}"):
        r = client.get(path, headers=other)
        assert r.status_code == 403
        assert r.get_json()["error"]["message"] == \
            "This key lacks the scope 'erasure:write' or 'audit:read'."
    assert client.post("/v1/subjects/u-8/erasure", headers=legal).status_code == 403


def test_the_openapi_document_names_both_scopes_of_erasure_reads(client):
    spec = client.get("/openapi.json").get_json()
    description = spec["paths"]["/v1/erasures"]["get"]["description"]
    assert "`erasure:write` or `audit:read`" in description


def test_a_malformed_erasures_cursor_is_a_422(client, admin):
    r = client.get("/v1/erasures?cursor=nonsense", headers=admin)
    assert r.status_code == 422
