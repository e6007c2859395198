"""Erasure under failure and load: its turn between purge batches, legal holds, exports."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text, update

from audit.models import SubjectKey
from audit.service import append_entry
from consentry.db import get_db
from consentry.secretstore import get_keys
from consentry.stores import BatchResult, Store, register_store
from retention import service
from retention.models import Erasure, LegalHold, RetentionRun
from retention.runner import Runner
from tests.retention.test_api import actions, poll
from tests.retention.test_targets import make_table, remaining, target

NOW = datetime.now(UTC).isoformat()


def audit_key(app, subject_id) -> bytes | None:
    with app.app_context(), get_db(app).transaction(write=False) as s:
        return s.get(SubjectKey, get_keys(app).subject_ref(subject_id)).wrapped_key


def personal_entry(app, subject_id, **fields) -> None:
    with app.app_context(), get_db(app).transaction() as s:
        append_entry(s, get_keys(app), "test.personal", subject_id=subject_id, personal=fields)


def test_an_erasure_queued_during_a_long_purge_runs_between_its_batches(make_app):
    app = make_app()
    calls: list[str] = []
    batches = iter(range(8))

    def purge(session, cutoffs, held, limit, dry_run):
        n = next(batches, None)
        time.sleep(0.15)
        calls.append("purge")
        return BatchResult(matched=1, deleted=1, done=n is None or n >= 7)

    def erase(session, subject_id, held):
        calls.append(f"erase {subject_id}")
        return BatchResult()

    register_store(app, Store("slow", purge, erase))
    worker = Runner(app, f"test-{uuid.uuid4().hex[:6]}")
    assert worker.acquire()
    queued = []

    def on_progress(_name, _entry):
        if not queued:  # a request arrives while the purge is at its first batch
            with get_db(app).transaction() as s:
                queued.append(service.queue_erasure(s, worker.keys, "u-1", "test").id)

    try:
        with app.app_context(), get_db(app).transaction() as s:
            run = service.queue_run(s, get_keys(app), worker.known_targets, dry_run=False,
                                    targets=["slow"], trigger="api", actor="test")
            service.claim_run(s, worker.holder, run.id)
        with app.app_context():
            worker.execute_run(run.id, progress=on_progress)
    finally:
        worker.release()

    assert "erase u-1" in calls
    assert calls.index("erase u-1") < len(calls) - 1 - calls[::-1].index("purge")
    with app.app_context(), get_db(app).transaction(write=False) as s:
        erasure, run = s.get(Erasure, queued[0]), s.get(RetentionRun, run.id)
        assert erasure.status == "succeeded"
        assert erasure.finished_at < run.finished_at


def test_a_held_subject_is_erased_only_when_the_hold_lifts(retention_app, external,
                                                             external_url, make_key):
    make_table(external, "ev", "TEXT", [
        {"id": 1, "user_id": "u-42", "kind": "behavioral", "ts": NOW},
        {"id": 2, "user_id": "u-7", "kind": "behavioral", "ts": NOW}])
    app = retention_app([target("ev", external_url)])
    client, admin = app.test_client(), make_key("admin")
    personal_entry(app, "u-42", ip="203.0.113.7")
    hold = client.post("/v1/retention/holds", headers=admin, json={
        "subject_id": "u-42", "reason": "Roe v. ACME, Jane Roe's claim"}).get_json()
    erasure_id = client.post("/v1/subjects/u-42/erasure", headers=admin).get_json()["erasure_id"]

    poll(app)

    body = client.get(f"/v1/erasures/{erasure_id}", headers=admin).get_json()
    assert body["status"] == "held" and body["certificate"] is None
    assert body["waiting_for_holds"] == [hold["id"]]
    assert audit_key(app, "u-42") is not None  # the evidence stays readable
    entries = client.get("/v1/audit/entries?subject_id=u-42&action=test.personal",
                         headers=admin).get_json()["entries"]
    assert entries[0]["personal"] == {"ip": "203.0.113.7"}
    assert remaining(external, "ev") == {1, 2}
    again = client.post("/v1/subjects/u-42/erasure", headers=admin).get_json()
    assert again["erasure_id"] == erasure_id  # the held erasure is the pending one

    lifted = client.delete(f"/v1/retention/holds/{hold['id']}", headers=admin)
    assert lifted.status_code == 200
    assert client.get(f"/v1/erasures/{erasure_id}", headers=admin).get_json()["status"] \
        == "queued"
    poll(app)

    body = client.get(f"/v1/erasures/{erasure_id}", headers=admin).get_json()
    assert body["status"] == "succeeded", body
    assert remaining(external, "ev") == {2}
    assert audit_key(app, "u-42") is None
    document = body["certificate"]["document"]
    assert document["audit_key_destroyed"] is True
    assert document["held_by"] == [{"hold_id": hold["id"], "by": "subject", "category": None}]
    assert "Roe" not in str(body)
    assert {"erasure.held", "erasure.released", "erasure.completed"} <= set(actions(app))


def test_rows_kept_under_a_category_hold_are_erased_when_it_lifts(
        retention_app, external, external_url, make_key):
    make_table(external, "ev", "TEXT", [
        {"id": 1, "user_id": "u-42", "kind": "behavioral", "ts": NOW},
        {"id": 2, "user_id": "u-42", "kind": "financial", "ts": NOW},
        {"id": 3, "user_id": "u-7", "kind": "financial", "ts": NOW}])
    app = retention_app([target("ev", external_url, category_column="kind")])
    client, admin = app.test_client(), make_key("admin")
    personal_entry(app, "u-42", ip="203.0.113.7")
    hold = client.post("/v1/retention/holds", headers=admin, json={
        "category": "financial", "reason": "tax audit 2026"}).get_json()
    erasure_id = client.post("/v1/subjects/u-42/erasure", headers=admin).get_json()["erasure_id"]

    poll(app)

    body = client.get(f"/v1/erasures/{erasure_id}", headers=admin).get_json()
    assert body["status"] == "held" and body["waiting_for_holds"] == [hold["id"]]
    ev = next(t for t in body["targets"] if t["name"] == "ev")
    assert (ev["deleted"], ev["held"]) == (1, 1)
    assert remaining(external, "ev") == {2, 3}
    assert audit_key(app, "u-42") is None  # a category hold keeps rows, not the audit log

    # The hold ends by itself: the next poll sees it and finishes the erasure.
    with app.app_context(), get_db(app).transaction() as s:
        s.execute(update(LegalHold).where(LegalHold.id == hold["id"])
                  .values(until=datetime.now(UTC) - timedelta(seconds=1)))
    poll(app)

    body = client.get(f"/v1/erasures/{erasure_id}", headers=admin).get_json()
    assert body["status"] == "succeeded", body
    assert remaining(external, "ev") == {3}
    document = body["certificate"]["document"]
    assert document["targets"]["ev"]["deleted"] == 2 and document["rows_deleted"] >= 2
    assert document["held_by"] == [{"hold_id": hold["id"], "by": "category",
                                    "category": "financial"}]
    assert "tax audit" not in str(document)


def test_a_subject_holds_reason_is_sealed_not_stored_in_clear(app, client, admin):
    r = client.post("/v1/retention/holds", headers=admin, json={
        "subject_id": "u-42", "reason": "Jane Roe, case 17"})
    assert r.status_code == 201 and r.get_json()["reason"] == "Jane Roe, case 17"
    hold_id = r.get_json()["id"]
    with app.app_context(), get_db(app).transaction(write=False) as s:
        row = s.execute(text("SELECT * FROM retention_holds")).one()
    assert "Jane Roe" not in repr(tuple(row))
    listed = client.get("/v1/retention/holds", headers=admin).get_json()["holds"]
    assert listed[0]["reason"] == "Jane Roe, case 17"  # retention:admin still reads it

    client.delete(f"/v1/retention/holds/{hold_id}", headers=admin)
    erasure_id = client.post("/v1/subjects/u-42/erasure", headers=admin).get_json()["erasure_id"]
    poll(app)
    assert client.get(f"/v1/erasures/{erasure_id}", headers=admin).get_json()["status"] \
        == "succeeded"
    listed = client.get("/v1/retention/holds?include_lifted=true",
                        headers=admin).get_json()["holds"]
    assert listed[0]["id"] == hold_id and listed[0]["reason"] is None  # shredded with the key


def test_the_migration_moves_subject_hold_reasons_out_of_the_holds_table(external_url):
    from consentry import migrate
    from consentry.db import make_engine

    url = external_url  # an empty database of the engine under test
    migrate.upgrade(url, "0006_audit_export_jobs")
    engine = make_engine(url)
    sealed = '{"hold_id": "h1", "personal": {"alg": "A256GCM", "nonce": "n", "ct": "c"}}'
    details = "CAST(:d AS JSON)" if engine.dialect.name == "postgresql" else ":d"
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO audit_entries (seq, ts, actor, action, subject_ref, details, prev_hash,"
            f" entry_hash) VALUES (7, :ts, 'a', 'retention.hold.created', 'ref', {details},"
            " :h, :h)"), {"d": sealed, "h": "0" * 64, "ts": datetime.now(UTC)})
        for hold_id, subject, category in [("h1", "u-1", None), ("h2", None, "financial")]:
            conn.execute(text(
                "INSERT INTO retention_holds (id, subject_id, category, reason, created_by,"
                " created_at) VALUES (:id, :s, :c, :r, 'a', :ts)"),
                {"id": hold_id, "s": subject, "c": category, "r": f"reason of {hold_id}",
                 "ts": datetime.now(UTC)})
    migrate.upgrade(url)
    with engine.connect() as conn:
        rows = {r.id: (r.reason, r.audit_seq) for r in conn.execute(
            text("SELECT id, reason, audit_seq FROM retention_holds"))}
    engine.dispose()
    assert rows == {"h1": (None, 7), "h2": ("reason of h2", None)}


def _bundles_naming(export_dir, needle: str) -> list[str]:
    """The bundles on disk whose readable CSV holds `needle`."""
    import zipfile
    from pathlib import Path

    found = []
    for path in Path(export_dir).glob("*.zip"):
        with zipfile.ZipFile(path) as bundle:
            if needle in bundle.read("entries.csv").decode():
                found.append(path.name)
    return found


def test_no_export_written_while_an_erasure_runs_keeps_the_subjects_fields(
        retention_app, external, external_url, make_key, tmp_path, monkeypatch):
    import threading

    from sqlalchemy import event

    from audit.jobs import run_export_queue
    from retention import targets

    make_table(external, "ev", "TEXT", [
        {"id": 1, "user_id": "u-42", "kind": "behavioral", "ts": NOW}])
    exports = tmp_path / "exports"
    app = retention_app([target("ev", external_url)], AUDIT_EXPORT_DIR=str(exports))
    client, admin = app.test_client(), make_key("admin")
    personal_entry(app, "u-42", ip="203.0.113.7")

    # A target slow to erase: its delete waits until the test has written an export.
    erasing, go = threading.Event(), threading.Event()
    open_engine = targets.open_engine

    def slow_engine(url):
        engine = open_engine(url)

        @event.listens_for(engine, "before_cursor_execute")
        def slow_delete(conn, cursor, statement, *args):
            if statement.lstrip().upper().startswith("DELETE"):
                erasing.set()
                assert go.wait(30)

        return engine

    monkeypatch.setattr(targets, "open_engine", slow_engine)
    erasure_id = client.post("/v1/subjects/u-42/erasure", headers=admin).get_json()["erasure_id"]
    scheduler = threading.Thread(target=poll, args=(app,))
    scheduler.start()
    try:
        assert erasing.wait(30)
        assert client.post("/v1/audit/exports", json={"reason": "audit"},
                           headers=admin).status_code == 201
        assert run_export_queue(app) == 1  # written while the erasure runs
    finally:
        go.set()
        scheduler.join(30)

    body = client.get(f"/v1/erasures/{erasure_id}", headers=admin).get_json()
    assert body["status"] == "succeeded", body
    assert remaining(external, "ev") == set()
    assert _bundles_naming(exports, "203.0.113.7") == []


def test_an_export_in_flight_when_the_key_is_shredded_is_written_again(make_app, tmp_path,
                                                                        make_key):
    from audit.export import ExportRequest, export_bundle
    from tests.audit.helpers import read_files

    app = make_app(AUDIT_EXPORT_DIR=str(tmp_path / "exports"))
    admin = make_key("admin")
    personal_entry(app, "u-42", ip="203.0.113.7")
    personal_entry(app, "u-7", ip="198.51.100.1")
    erasure_id = app.test_client().post("/v1/subjects/u-42/erasure",
                                        headers=admin).get_json()["erasure_id"]
    erased = []

    def erase_meanwhile(_n):  # the fields are decrypted; the bundle is not recorded yet
        if not erased:
            erased.append(True)
            poll(app)

    with app.app_context():
        record = export_bundle(get_db(), get_keys(), ExportRequest(exporter="t", reason="r"),
                               out=tmp_path / "exports", progress=erase_meanwhile)
    with app.app_context(), get_db(app).transaction(write=False) as s:
        assert s.get(Erasure, erasure_id).status == "succeeded"
    csv_text = read_files(tmp_path / "exports" / f"{record.id}.zip")["entries.csv"].decode()
    assert "203.0.113.7" not in csv_text and "[shredded]" in csv_text
    assert "198.51.100.1" in csv_text
    assert _bundles_naming(tmp_path / "exports", "203.0.113.7") == []


def test_after_an_erasure_the_subject_is_named_only_by_its_consent_events(app, client, admin):
    from consentry.schema import all_metadata

    def idem(_what):
        return {**admin, "Idempotency-Key": uuid.uuid4().hex}

    from consentry.policy import get_policy
    from webhooks import service as webhooks
    with app.app_context(), get_db(app).transaction() as s:  # a recipient's endpoint
        webhooks.put_endpoint(s, get_keys(app), get_policy(app), "crm",
                              url="http://127.0.0.1:9/hook", recipient="mailer",
                              events=list(webhooks.EVENT_TYPES), enabled=True, actor="t",
                              allow_http=True, allow_private=True)
    for subject in ("u-42", "u-7"):
        assert client.put(f"/v1/subjects/{subject}/consents", headers=idem(f"c-{subject}"),
                          json={"source": "pc", "choices": [{"purpose": "personalization",
                                                             "status": "granted"}]}
                          ).status_code == 200
        assert client.post("/v1/decisions", headers=idem(f"d-{subject}"), json={
            "subject_id": subject, "surface": "hero", "item": {"id": "1"},
            "signals_used": [{"category": "behavioral"}],
            "decided_at": datetime.now(UTC).isoformat()}).status_code == 201
    receipt_id = client.get("/v1/subjects/u-42/consents/history",
                            headers=admin).get_json()["events"][0]["receipt_id"]
    hold = client.post("/v1/retention/holds", headers=idem("h-1"), json={
        "subject_id": "u-42", "reason": "a finished case"}).get_json()
    client.delete(f"/v1/retention/holds/{hold['id']}", headers=idem("h-2"))

    request_id = client.post("/v1/requests", headers=admin, json={
        "subject_id": "u-42", "type": "erasure", "source": "api",
        "note": "Jane Roe, 12 Main St"}).get_json()["request_id"]
    erasure_id = client.post(f"/v1/requests/{request_id}/transition", headers=admin, json={
        "to": "completed", "reason": "Jane asked by phone"}).get_json()["erasure_id"]
    poll(app)

    body = client.get(f"/v1/erasures/{erasure_id}", headers=admin).get_json()
    assert body["status"] == "succeeded", body
    cleared = body["certificate"]["document"]["targets"]
    assert {name: cleared[name]["deleted"] for name in (
        "receipts", "subject_states", "legal_holds", "idempotency_records")} == {
        "receipts": 1, "subject_states": 1, "legal_holds": 1, "idempotency_records": 3}
    assert set(cleared) == set(app.extensions["consentry.stores"])
    with app.app_context(), get_db(app).transaction(write=False) as s:
        for table in all_metadata().sorted_tables:
            if table.name == "consent_events":  # proof of consent (GDPR Art. 7(1))
                continue
            rows = s.execute(table.select()).all()
            if table.name == "webhook_deliveries":
                # the erasure notice to each recipient names whom to erase (GDPR Art. 17(2),
                # 19): the one delivery kept; the subject's other deliveries are gone
                naming = [r for r in rows if "u-42" in repr(r)]
                assert naming and {r.type for r in naming} == {"erasure.completed"}, naming
                assert "u-7" in repr(rows)
                continue
            if table.name in ("privacy_requests", "privacy_request_history"):
                # the record of the request itself: kept, without what was written
                assert "Jane" not in repr(rows) and "Main St" not in repr(rows), table.name
                continue
            assert "u-42" not in repr(rows), table.name
            if table.name in ("consent_receipts", "subject_states", "idempotency_records"):
                assert "u-7" in repr(rows), table.name  # other subjects keep theirs
    assert client.get(f"/v1/subjects/u-42/receipts/{receipt_id}",
                      headers=admin).status_code == 404
    history = client.get("/v1/subjects/u-42/consents/history", headers=admin).get_json()
    assert [e["status"] for e in history["events"]] == ["granted"]  # the proof stays
