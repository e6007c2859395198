"""Subject access exports (GDPR Art. 15): one person's signed bundle, verifiable offline."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from audit import verify
from audit.jobs import run_export_queue
from consentry.canonical import b64url, b64url_decode
from consentry.scheduler import run_leased

SUBJECT = "alice@example.com"
OTHER = "bob@example.com"
EVIDENCE = {"user_agent": "Mozilla/5.0 (Alice's phone)", "ip": "203.0.113.77"}


@pytest.fixture
def app(make_app, tmp_path):
    return make_app(AUDIT_EXPORT_DIR=str(tmp_path / "exports"))


@pytest.fixture
def legal(make_key):
    return make_key("audit:export", name="privacy-office")


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _consent(client, admin, subject_id, status="granted", evidence=None):
    body = {"source": "preference_center", "jurisdiction": "EU",
            "choices": [{"purpose": "personalization", "category": "behavioral",
                         "status": status}]}
    if evidence:
        body["evidence"] = evidence
    r = client.put(f"/v1/subjects/{subject_id}/consents", json=body, headers=admin)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _decision(client, admin, subject_id, category="behavioral", label="Trail shoes"):
    r = client.post("/v1/decisions", headers=admin, json={
        "subject_id": subject_id, "surface": "homepage_hero", "purpose": "personalization",
        "channel": "web", "item": {"id": "sku-1", "label": label},
        "signals_used": [{"category": category, "summary": "viewed running shoes"}],
        "decided_at": _now()})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["decision_id"]


def _seed(client, admin) -> dict:
    """Alice: two writes (one with evidence), two decisions, a hold; Bob: his own."""
    first = _consent(client, admin, SUBJECT, evidence=EVIDENCE)
    decisions = [_decision(client, admin, SUBJECT)]  # behavioral allowed at the time
    second = _consent(client, admin, SUBJECT, "denied")
    _consent(client, admin, OTHER, evidence={"user_agent": "Bob's laptop", "ip": "198.51.100.9"})
    decisions.append(_decision(client, admin, SUBJECT, category="health", label="Vitamins"))
    other_decision = _decision(client, admin, OTHER, label="Bob's thing")
    hold = client.post("/v1/retention/holds", headers=admin, json={
        "subject_id": SUBJECT, "reason": "litigation 2026-031, privileged"}).get_json()
    client.post("/v1/retention/holds", headers=admin, json={
        "subject_id": OTHER, "reason": "bob's case"})
    category_hold = client.post("/v1/retention/holds", headers=admin, json={
        "category": "health", "reason": "regulator inquiry"}).get_json()
    return {"category_hold": category_hold["id"],
            "receipts": [first["receipt"]["receipt_id"], second["receipt"]["receipt_id"]],
            "decisions": decisions, "other_decision": other_decision, "hold": hold["id"]}


def _export(app, client, headers, subject_id=SUBJECT, tmp_path: Path | None = None) -> Path:
    r = client.post(f"/v1/subjects/{subject_id}/access-exports", headers=headers,
                    json={"reason": "DSAR-77"})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert set(body) == {"export_id", "status"} and body["status"] == "queued"
    pending = client.get(f"/v1/audit/exports/{body['export_id']}", headers=headers)
    assert pending.status_code == 202 and pending.headers["Retry-After"]
    assert run_export_queue(app, "test") == 1
    r = client.get(f"/v1/audit/exports/{body['export_id']}", headers=headers)
    assert r.status_code == 200 and r.mimetype == "application/zip"
    assert f"consentry-access-{body['export_id']}.zip" in r.headers["Content-Disposition"]
    path = (tmp_path or Path(app.config["AUDIT_EXPORT_DIR"])) / f"got-{body['export_id']}.zip"
    path.write_bytes(r.data)
    r.close()
    return path


def _files(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _doc(files, name):
    return json.loads(files[name])


def _keys_file(client, tmp_path) -> str:
    path = tmp_path / "keys.json"
    path.write_bytes(client.get("/.well-known/consentry-keys").data)
    return str(path)


def _rewrite(path: Path, files: dict[str, bytes], out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out


def test_the_bundle_holds_the_persons_files_and_nothing_of_anyone_else(
        app, client, admin, legal, tmp_path):
    seeded = _seed(client, admin)
    files = _files(_export(app, client, legal, tmp_path=tmp_path))
    manifest = _doc(files, "manifest.json")
    assert manifest["kind"] == "subject_access"
    assert manifest["subject_access"]["subject_id"] == SUBJECT
    assert manifest["subject_access"]["nothing_held"] is False
    # the manifest lists every file with its SHA-256 and says what each is
    assert set(files) - {"manifest.json", "manifest.sig"} == set(manifest["files"])
    assert set(manifest["contents"]) == set(manifest["files"])

    events = _doc(files, "subject/consent_events.json")
    assert [e["status"] for e in events] == ["granted", "denied"]
    first = events[0]
    assert first["evidence"]["user_agent"] == EVIDENCE["user_agent"]
    assert first["evidence"]["ip_prefix"] == "203.0.113.0/24"
    assert first["evidence_status"] == "readable"
    assert events[1]["evidence_status"] == "none recorded"
    # their audit entries' sealed evidence is opened for them in the CSV
    assert "Alice's phone" in files["entries.csv"].decode()

    receipts = sorted(n for n in files if n.startswith("subject/receipts/"))
    assert receipts == sorted(f"subject/receipts/{r}.json" for r in seeded["receipts"])
    decisions = _doc(files, "subject/decisions.json")
    assert sorted(d["decision_id"] for d in decisions) == sorted(seeded["decisions"])
    assert {d["conformant"] for d in decisions} == {True, False}  # health: not allowed
    explanations = {e["decision_id"]: e["explanations"]
                    for e in _doc(files, "subject/explanations.json")}
    assert set(explanations) == set(seeded["decisions"])
    shoes = explanations[seeded["decisions"][0]]
    assert shoes["en"]["headline"].startswith("You're seeing")
    assert shoes["de"]["headline"].startswith("Sie sehen")

    holds = _doc(files, "subject/holds.json")
    assert [h["hold_id"] for h in holds] == [seeded["hold"]]
    assert holds[0]["reason"] == "[withheld]"
    assert _doc(files, "subject/erasures.json") == []

    csv_rows = files["entries.csv"].decode().splitlines()[1:]
    ref = manifest["subject_access"]["subject_ref"]
    assert csv_rows and all(f",{ref}," in row for row in csv_rows)
    assert len(csv_rows) == manifest["count"] == manifest["subject_access"]["counts"][
        "audit_entries"]
    # the hold's reason, sealed in its audit entry, stays sealed for the person
    assert "litigation" not in files["entries.csv"].decode()
    everything = b"".join(files.values()).decode()
    for foreign in (OTHER, "Bob's laptop", "198.51.100.9", "Bob's thing",
                    seeded["other_decision"], "regulator inquiry", "bob's case",
                    "litigation"):
        assert foreign not in everything, foreign


def test_the_bundle_verifies_offline_and_each_receipt_proves_itself(
        app, client, admin, legal, tmp_path):
    _seed(client, admin)
    path = _export(app, client, legal, tmp_path=tmp_path)
    keys = _keys_file(client, tmp_path)
    assert verify.main([str(path), "--public-key", keys]) == 0
    assert verify.main([str(path)]) == 3  # intact, signer unproven without the keys
    report = verify.verify_bundle(str(path), verify.load_public_keys(keys))
    assert any("2 receipt(s)" in note for note in report.notes), report.notes
    files = _files(path)
    published = verify.load_public_keys(keys)
    from consentry.signing import verify_document
    for name in (n for n in files if n.startswith("subject/receipts/")):
        receipt = json.loads(files[name])
        signature = receipt.pop("signature")
        verify_document(published, receipt, signature)  # raises if it does not hold


@pytest.mark.parametrize("member", ["subject/decisions.json", "subject/consent_events.json",
                                    "subject/explanations.json", "subject/holds.json",
                                    "subject/summary.json", "receipt", "entries.csv"])
def test_changing_any_file_is_caught(app, client, admin, legal, tmp_path, member):
    seeded = _seed(client, admin)
    path = _export(app, client, legal, tmp_path=tmp_path)
    keys = _keys_file(client, tmp_path)
    files = _files(path)
    if member == "receipt":
        member = f"subject/receipts/{seeded['receipts'][0]}.json"
        receipt = json.loads(files[member])
        receipt["choices"][0]["status"] = "denied"
        files[member] = json.dumps(receipt, indent=2).encode()
    else:
        files[member] = files[member].replace(b"true", b"false", 1).replace(
            b"granted", b"denied", 1) + b" "
    tampered = _rewrite(path, files, tmp_path / "tampered.zip")
    assert verify.main([str(tampered), "--public-key", keys]) == 1
    report = verify.verify_bundle(str(tampered), verify.load_public_keys(keys))
    assert member in {f.where for f in report.findings}, report.findings


def test_a_receipt_re_signed_with_another_key_is_a_bad_signature(
        app, client, admin, legal, tmp_path):
    """Even with the manifest's hash made to match, a receipt stands on its own signature."""
    seeded = _seed(client, admin)
    path = _export(app, client, legal, tmp_path=tmp_path)
    files = _files(path)
    name = f"subject/receipts/{seeded['receipts'][0]}.json"
    receipt = json.loads(files[name])
    value = bytearray(b64url_decode(receipt["signature"]["value"]))
    value[0] ^= 1
    receipt["signature"]["value"] = b64url(bytes(value))
    source = verify.Source(files={**files, name: json.dumps(receipt).encode()})
    report = verify.verify_source(source, verify.load_public_keys(_keys_file(client,
                                                                              tmp_path)))
    kinds = {(f.kind, f.where) for f in report.findings}
    assert ("bad signature", name) in kinds and ("modified", name) in kinds


def test_a_subject_the_service_knows_nothing_of_gets_a_valid_bundle_saying_so(
        app, client, admin, legal, tmp_path):
    _seed(client, admin)
    path = _export(app, client, legal, subject_id="nobody-42", tmp_path=tmp_path)
    files = _files(path)
    summary = _doc(files, "subject/summary.json")
    assert summary["nothing_held"] is True and summary["current_state"] is None
    assert any("holds no consent records" in n for n in summary["notes"])
    assert set(summary["counts"].values()) == {0}
    assert _doc(files, "manifest.json")["count"] == 0
    assert not [n for n in files if n.startswith("subject/receipts/")]
    assert verify.main([str(path), "--public-key", _keys_file(client, tmp_path)]) == 0


def test_the_wrong_scope_is_refused_and_a_bad_subject_id_named(app, client, make_key):
    reader = make_key("audit:read", "preferences:read")
    r = client.post(f"/v1/subjects/{SUBJECT}/access-exports", headers=reader, json={})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    legal = make_key("audit:export")
    r = client.post("/v1/subjects/%20bad%20id/access-exports", headers=legal, json={})
    assert r.status_code == 422
    r = client.post(f"/v1/subjects/{SUBJECT}/access-exports", headers=legal,
                    json={"reason": "x" * 501})
    assert r.status_code == 422 and "reason" in r.get_json()["error"]["fields"]


def test_after_an_erasure_the_bundle_says_what_was_erased_and_the_old_one_is_gone(
        app, client, admin, legal, tmp_path):
    seeded = _seed(client, admin)
    before = _export(app, client, legal, tmp_path=tmp_path)
    old_id = _doc(_files(before), "manifest.json")["export_id"]
    for hold in (seeded["hold"], seeded["category_hold"]):
        client.delete(f"/v1/retention/holds/{hold}", headers=admin)
    r = client.post(f"/v1/subjects/{SUBJECT}/erasure", headers=admin, json={"reason": "DSR-9"})
    assert r.status_code == 202, r.get_json()
    for _ in range(2):
        assert run_leased(app, app.extensions["consentry.jobs"]["retention-poll"], "test")
    gone = client.get(f"/v1/audit/exports/{old_id}", headers=legal)
    assert gone.status_code == 410 and "erasure" in gone.get_json()["error"]["message"]

    files = _files(_export(app, client, legal, tmp_path=tmp_path))
    events = _doc(files, "subject/consent_events.json")
    assert len(events) == 2  # kept as proof of consent
    assert {e["evidence_status"] for e in events} == {"removed by erasure, if any was recorded"}
    assert all(e["evidence"] is None for e in events)
    assert not [n for n in files if n.startswith("subject/receipts/")]
    assert _doc(files, "subject/decisions.json") == []
    erasures = _doc(files, "subject/erasures.json")
    assert len(erasures) == 1 and erasures[0]["status"] == "succeeded"
    assert erasures[0]["certificate"]["document"]["audit_key_destroyed"] is True
    assert erasures[0]["reason"] == "[withheld]"
    summary = _doc(files, "subject/summary.json")
    assert any("was erased" in n for n in summary["notes"])
    assert "[shredded]" in files["entries.csv"].decode()
    assert "Alice's phone" not in b"".join(files.values()).decode()
    report = verify.verify_bundle(str(_rewrite(before, files, tmp_path / "after.zip")),
                                  verify.load_public_keys(_keys_file(client, tmp_path)))
    assert report.exit_code == 0, report.findings
    assert any("1 erasure certificate(s)" in n for n in report.notes)


def test_a_post_without_a_body_queues_one_and_it_is_audited_as_an_access_export(
        app, client, admin, legal):
    _seed(client, admin)
    r = client.post(f"/v1/subjects/{SUBJECT}/access-exports", headers=legal)
    assert r.status_code == 201, r.get_json()  # no body at all: the reason is optional
    export_id = r.get_json()["export_id"]
    run_export_queue(app, "test")
    entries = client.get("/v1/audit/entries?action=audit.", headers=admin).get_json()["entries"]
    assert [(e["action"], e["details"]["kind"]) for e in entries] == [
        ("audit.export.queued", "subject_access"), ("audit.exported", "subject_access")]
    assert all(e["subject_ref"] is None for e in entries)  # the log does not name the person
    download = client.get(f"/v1/audit/exports/{export_id}", headers=legal)
    with zipfile.ZipFile(io.BytesIO(download.data)) as z:
        assert "subject/summary.json" in z.namelist()
    download.close()


def test_a_bundle_written_while_its_subject_is_being_erased_is_written_again(
        app, client, admin, tmp_path):
    """The erasure's audit entry lands after the bundle's checkpoint: its snapshot may hold
    what the erasure removes, so it is not recorded but written again past the erasure."""
    from audit.export import SUBJECT_ACCESS, SUBJECT_FILES, ExportRequest, export_bundle
    from consentry.db import get_db
    from consentry.policy import get_policy
    from consentry.secretstore import get_keys
    from retention.service import queue_erasure

    _seed(client, admin)
    build = app.extensions[SUBJECT_FILES]
    calls = []

    def attach(session, entries):
        if not calls:  # an erasure is requested while the first bundle is read
            with get_db(app).transaction() as other:
                queue_erasure(other, get_keys(app), SUBJECT, "privacy-office")
        calls.append(entries)
        return build(session, get_keys(app), get_policy(app), SUBJECT, entries)

    with app.app_context():
        record = export_bundle(get_db(app), get_keys(app), ExportRequest(
            exporter="tests", subject_id=SUBJECT, kind=SUBJECT_ACCESS), out=tmp_path,
            attach=attach)
    assert len(calls) == 2  # written again
    files = _files(Path(record.path))
    assert "erasure.requested" in files["entries.csv"].decode()  # the second saw it
    assert len(_doc(files, "subject/erasures.json")) == 1


def test_the_bundle_names_the_recipients_of_the_persons_data(app, client, admin, legal,
                                                            tmp_path):
    _seed(client, admin)
    summary = _doc(_files(_export(app, client, legal, tmp_path=tmp_path)),
                   "subject/summary.json")
    recipients = {r["recipient"]: r for r in summary["recipients"]}  # GDPR Art. 15(1)(c)
    assert set(recipients) == {"analytics", "mailer", "ad_exchange"}
    # EU: personalization and analytics run unless objected to; marketing, advertising
    # need a grant Alice never gave
    assert recipients["analytics"]["allowed_purposes"] == ["analytics", "personalization"]
    assert recipients["mailer"]["allowed_purposes"] == []
    ads = recipients["ad_exchange"]
    assert ads["third_country"] is True and ads["transfer_safeguard"].startswith("Standard")
    assert ads["sale_sharing"] is True and ads["categories"] == ["behavioral", "cross_site"]
