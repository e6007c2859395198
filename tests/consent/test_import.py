"""`flask consents import`: historical records keep their time, import once, resume."""

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from audit.models import AuditEntry
from audit.verify import verify_bundle
from consent.models import ConsentEvent, Receipt
from consentry.signing import keys_by_kid, verify_document
from retention.runner import Runner
from tests.audit.helpers import make_bundle, published_keys


@pytest.fixture
def reader(make_key):
    return make_key("preferences:read", "preferences:write", "audit:read", "signals:read")


def record(subject, when, purpose="marketing", status="granted", **extra):
    return {"subject_id": subject, "recorded_at": when, "jurisdiction": "EU",
            "source": "old_cmp", "choices": [{"purpose": purpose, "status": status}], **extra}


def write_lines(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n"
                            for r in records))
    return path


def run_import(runner, path, *extra):
    return runner.invoke(args=["consents", "import", str(path), *extra])


def allowed(client, headers, subject, purpose, at=None):
    query = "?jurisdiction=EU" + (f"&at={at}" if at else "")
    body = client.get(f"/v1/subjects/{subject}/consents{query}", headers=headers).get_json()
    return next(e for e in body["entries"]
                if e["purpose"] == purpose and e["category"] is None)["allowed"]


def event_count(session):
    session.rollback()  # a fresh snapshot: the command commits in its own transactions
    return session.scalar(select(func.count()).select_from(ConsentEvent))


def test_records_keep_their_time(runner, client, reader, tmp_path):
    path = write_lines(tmp_path / "old.jsonl", [
        record("h-1", "2024-01-10T09:00:00Z"),
        record("h-1", "2024-06-01T12:00:00Z", status="withdrawn"),
        record("h-2", "2024-03-01T00:00:00Z", purpose="advertising",
               evidence={"ip": "203.0.113.9", "user_agent": "Mozilla/5.0"},
               notice_version="v3")])
    result = run_import(runner, path)
    assert result.exit_code == 0, result.output
    assert "imported 3 records; 0 were in already" in result.output
    assert allowed(client, reader, "h-1", "marketing", "2023-12-31") is False
    assert allowed(client, reader, "h-1", "marketing", "2024-03-01") is True
    assert allowed(client, reader, "h-1", "marketing", "2024-07-01") is False
    assert allowed(client, reader, "h-1", "marketing") is False
    assert allowed(client, reader, "h-2", "advertising") is True
    history = client.get("/v1/subjects/h-2/consents/history", headers=reader).get_json()
    event = history["events"][0]
    assert event["occurred_at"] == "2024-03-01T00:00:00Z"
    assert event["received_at"] > "2026"
    assert event["evidence"]["ip_prefix"] == "203.0.113.0/24"
    receipt = client.get(f"/v1/subjects/h-2/receipts/{event['receipt_id']}",
                         headers=reader).get_json()
    assert receipt["imported"] is True and receipt["recorded_at"] == "2024-03-01T00:00:00Z"
    assert receipt["choices"][0]["event_id"] == event["event_id"]
    keys = keys_by_kid(client.get("/.well-known/consentry-keys").get_json())
    signature = receipt.pop("signature")
    verify_document(keys, receipt, signature)  # raises unless the signature holds
    changed = client.get("/v1/changes", headers=reader).get_json()["changes"]
    assert {"h-1", "h-2"} <= {c["subject_id"] for c in changed}


def test_importing_the_same_file_again_adds_nothing(runner, session, tmp_path):
    path = write_lines(tmp_path / "old.jsonl", [
        record(f"r-{i}", f"2024-02-{1 + i % 28:02d}T10:00:00Z") for i in range(30)]
        + [record("r-0", "2024-02-01T10:00:00Z")])  # the same record twice in a file
    assert run_import(runner, path, "--batch-size", "7").exit_code == 0
    assert event_count(session) == 30
    again = run_import(runner, path)
    assert again.exit_code == 0 and "imported 0 records; 31 were in already" in again.output
    assert event_count(session) == 30
    assert session.scalar(select(func.count()).select_from(Receipt)) == 30


def test_a_bad_line_is_named_the_lines_before_kept_and_a_rerun_completes(
        runner, session, tmp_path):
    good = [record(f"c-{i}", f"2024-05-{1 + i:02d}T08:00:00Z") for i in range(10)]
    broken = [*good[:6], {**good[6], "choices": [{"purpose": "mind_reading",
                                                   "status": "granted"}]}, *good[7:]]
    path = write_lines(tmp_path / "old.jsonl", broken)
    result = run_import(runner, path, "--batch-size", "4")
    assert result.exit_code != 0
    assert "line 7: choices.0.purpose" in result.output
    assert event_count(session) == 6
    write_lines(path, good)  # fixed: run again
    result = run_import(runner, path, "--batch-size", "4")
    assert result.exit_code == 0, result.output
    assert "imported 4 records; 6 were in already" in result.output
    assert event_count(session) == 10
    write_lines(path, [*good[:2], "{not json", *good[2:]])
    result = run_import(runner, path)
    assert result.exit_code != 0 and "line 3: not JSON" in result.output
    write_lines(path, [*good[:4], record("c-x", "2999-01-01T00:00:00Z")])
    result = run_import(runner, path)
    assert result.exit_code != 0 and "line 5: recorded_at" in result.output
    assert event_count(session) == 10


def test_an_older_record_of_a_live_subject_folds_into_its_place(
        runner, client, reader, put_consents, tmp_path):
    put_consents("live-1", [{"purpose": "marketing", "status": "denied"}], jurisdiction="EU")
    path = write_lines(tmp_path / "old.jsonl", [
        record("live-1", "2024-01-01T00:00:00Z", purpose="marketing"),
        record("live-1", "2024-01-02T00:00:00Z", purpose="advertising")])
    assert run_import(runner, path).exit_code == 0
    assert allowed(client, reader, "live-1", "marketing") is False  # the live denial is newer
    assert allowed(client, reader, "live-1", "advertising") is True  # history adds to it
    assert allowed(client, reader, "live-1", "marketing", "2024-06-01") is True
    put_consents("live-1", [{"purpose": "analytics", "status": "denied"}])
    assert allowed(client, reader, "live-1", "advertising") is True


def test_import_is_audited_and_the_chain_verifies(runner, app, client, session, put_consents,
                                                  tmp_path):
    put_consents("a-0", [{"purpose": "marketing", "status": "granted"}])
    path = write_lines(tmp_path / "old.jsonl", [
        record(f"a-{i % 4}", f"2024-04-{1 + i:02d}T00:00:00Z") for i in range(9)])
    assert run_import(runner, path, "--batch-size", "5").exit_code == 0
    put_consents("a-1", [{"purpose": "marketing", "status": "denied"}])
    session.rollback()
    entries = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "consent.imported").order_by(AuditEntry.seq)).all()
    # one entry per subject per committed batch (5 + 4 records over 4 subjects)
    assert len(entries) == 8
    listed = [r["receipt_id"] for e in entries for r in e.details["records"]]
    assert sorted(listed) == sorted(session.scalars(
        select(Receipt.receipt_id).where(Receipt.body["imported"].as_boolean())).all())
    bundle = make_bundle(app, tmp_path / "b.zip")
    report = verify_bundle(str(bundle), published_keys(app))
    assert report.exit_code == 0, report.findings


def test_csv_one_choice_a_row(runner, client, reader, tmp_path):
    path = tmp_path / "old.csv"
    path.write_text("subject_id,recorded_at,jurisdiction,source,purpose,category,status\n"
                    "v-1,2024-01-01T00:00:00Z,EU,old_cmp,personalization,health,granted\n"
                    "v-1,2024-02-01T00:00:00Z,EU,old_cmp,marketing,,granted\n"
                    "v-2,2024-02-01T00:00:00Z,EU,old_cmp,marketing,,maybe\n")
    result = run_import(runner, path)
    assert result.exit_code != 0 and "line 4: choices.0.status" in result.output
    assert allowed(client, reader, "v-1", "marketing", "2024-01-15") is False
    assert allowed(client, reader, "v-1", "marketing", "2024-02-15") is True
    assert datetime.now(UTC).year >= 2026


def test_replay_after_an_older_import_equals_the_full_fold(runner, app, session,
                                                           put_consents, tmp_path):
    from consent import ledger
    from consent.models import StateSnapshot
    from consent.state import fold

    statuses = ("granted", "denied", "withdrawn")
    for i in range(ledger.SNAPSHOT_EVERY + 5):  # past a snapshot of the live history
        put_consents("snap-i", [{"purpose": ("marketing", "analytics")[i % 2],
                                 "status": statuses[i % 3]}], jurisdiction="EU")
    session.rollback()
    assert session.scalar(select(func.count()).select_from(StateSnapshot)) == 1
    path = write_lines(tmp_path / "old.jsonl", [
        record("snap-i", f"2024-0{1 + i % 9}-1{i % 10}T00:00:00Z",
               purpose=("advertising", "marketing", "personalization")[i % 3],
               status=statuses[i % 2]) for i in range(20)])
    assert run_import(runner, path).exit_code == 0
    session.rollback()
    events = session.scalars(select(ConsentEvent).where(ConsentEvent.subject_id == "snap-i")
                             .order_by(ConsentEvent.occurred_at, ConsentEvent.id)).all()
    moments = [None, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 5, 15, tzinfo=UTC),
               events[-3].occurred_at, events[-30].occurred_at]
    for at in moments:
        expected = fold(ledger._to_event(e) for e in events
                        if at is None or e.occurred_at <= at)
        assert ledger.replay_state(session, "snap-i", at) == expected, at
    assert ledger.load_state(session, "snap-i") == ledger.replay_state(session, "snap-i")


def test_a_long_imported_history_is_snapshotted(runner, session, tmp_path, monkeypatch):
    from consent import ledger
    from consent.models import StateSnapshot
    from consent.state import fold

    statuses = ("granted", "denied", "withdrawn")
    path = write_lines(tmp_path / "old.jsonl", [
        record("long-1", f"2024-{1 + i // 28:02d}-{1 + i % 28:02d}T00:00:00Z",
               purpose=("advertising", "marketing", "personalization")[i % 3],
               status=statuses[i % 3]) for i in range(2 * ledger.SNAPSHOT_EVERY + 10)])
    assert run_import(runner, path, "--batch-size", "30").exit_code == 0
    session.rollback()
    assert session.scalar(select(func.count()).select_from(StateSnapshot)) == 2
    events = session.scalars(select(ConsentEvent).where(ConsentEvent.subject_id == "long-1")
                             .order_by(ConsentEvent.occurred_at, ConsentEvent.id)).all()
    read = []
    real = ledger._to_event
    monkeypatch.setattr(ledger, "_to_event", lambda row: read.append(row.id) or real(row))
    for at in (None, events[40].occurred_at, events[100].occurred_at, events[-1].occurred_at):
        read.clear()
        expected = fold(real(e) for e in events if at is None or e.occurred_at <= at)
        assert ledger.replay_state(session, "long-1", at) == expected, at
        # from a snapshot (one a batch that crosses SNAPSHOT_EVERY), not the whole history
        assert len(read) <= (0 if at is None else ledger.SNAPSHOT_EVERY + 30), at


def erase_now(app, client, key, subject):
    """Request the subject's erasure over HTTP and carry it out in this process."""
    r = client.post(f"/v1/subjects/{subject}/erasure", headers=key, json={"reason": "DSR-9"})
    assert r.status_code == 202, r.get_json()
    worker = Runner(app, "test-erasure")
    assert worker.acquire()
    try:
        with app.app_context():
            worker.process_queue(budget_seconds=30)
    finally:
        worker.release()
    status = client.get(f"/v1/erasures/{r.get_json()['erasure_id']}", headers=key).get_json()
    assert status["status"] == "succeeded", status


CSV_HEADER = "subject_id,recorded_at,jurisdiction,source,purpose,status,notice_version\n"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_import_never_brings_an_erased_person_back(runner, app, client, reader, session,
                                                      make_key, tmp_path, fmt):
    records = [record("gone-1", "2024-01-10T09:00:00Z"),
               record("gone-1", "2024-02-10T09:00:00Z", purpose="advertising"),
               record("stays-1", "2024-01-10T09:00:00Z")]
    if fmt == "csv":
        path = tmp_path / "old.csv"
        path.write_text(CSV_HEADER + "".join(
            f"{r['subject_id']},{r['recorded_at']},EU,old_cmp,{r['choices'][0]['purpose']},"
            f"granted,\n" for r in records))
    else:
        path = write_lines(tmp_path / "old.jsonl", records)
    assert run_import(runner, path).exit_code == 0
    assert allowed(client, reader, "gone-1", "marketing") is True
    erase_now(app, client, make_key("erasure:write"), "gone-1")
    session.rollback()
    events = select(func.count()).select_from(ConsentEvent).where(
        ConsentEvent.subject_id == "gone-1")
    kept = session.scalar(events)  # the ledger keeps its events, their evidence erased
    again = run_import(runner, path)  # the receipts that marked them imported are gone
    assert again.exit_code == 0, again.output
    assert "imported 0 records; 1 were in already; 2 skipped: subject erased" in again.output
    session.rollback()
    assert session.scalar(events) == kept
    assert session.scalar(select(func.count()).select_from(Receipt)
                          .where(Receipt.subject_id == "gone-1")) == 0
    assert allowed(client, reader, "gone-1", "marketing") is False


def test_an_import_checks_notice_versions_as_the_write_does(runner, client, reader, admin,
                                                            session, tmp_path):
    notice = {"version": "v1", "url": "https://example.com/privacy", "sha256": "0" * 64,
              "material": False}
    assert client.put("/v1/notices/privacy", json=notice, headers=admin).status_code in (200, 201)
    refused = client.put("/v1/subjects/n-0/consents", headers=reader, json={
        "source": "x", "notice_version": "v9",
        "choices": [{"purpose": "marketing", "status": "granted"}]})
    assert refused.status_code == 422  # the API refuses it: so must the import
    path = write_lines(tmp_path / "old.jsonl", [
        record("n-1", "2024-01-10T09:00:00Z", notice_version="v1"),
        record("n-2", "2024-01-10T09:00:00Z", notice_version="privacy@v1"),
        record("n-3", "2024-01-10T09:00:00Z", notice_version="v9"),
        record("n-4", "2024-01-10T09:00:00Z")])
    result = run_import(runner, path)
    assert result.exit_code != 0
    assert "line 3: notice_version: No version 'v9' of notice 'privacy'" in result.output
    assert "imported 2 records" in result.output
    history = client.get("/v1/subjects/n-1/consents/history", headers=reader).get_json()
    assert history["events"][0]["notice_version"] == "privacy@v1"  # stored as the write does
