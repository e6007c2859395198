"""Export bundles carry decrypted personal fields: they expire, and erasure removes them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from audit.jobs import run_export_queue
from audit.models import AuditExport
from consentry.clock import utcnow
from consentry.db import get_db
from consentry.secretstore import get_keys
from consentry.stores import Held


def make_export(client, headers, **body):
    """Queue an export through the API and let the exporter write it."""
    r = client.post("/v1/audit/exports", json={"reason": "test", **body}, headers=headers)
    assert r.status_code == 201, r.get_json()
    assert run_export_queue(client.application) == 1
    return r.get_json()["export_id"]


def bundle_path(app, export_id) -> Path:
    with app.app_context(), get_db(app).transaction(write=False) as s:
        return Path(s.get(AuditExport, export_id).path)


def test_erasure_deletes_bundles_that_hold_the_subject(app, client, admin, append):
    append(2, subject_id="u-1", personal={"ip_prefix": "203.0.113.0/24"})
    append(1, subject_id="u-2")
    everyone = make_export(client, admin)
    other = make_export(client, admin, subject_id="u-2")
    path = bundle_path(app, everyone)
    assert path.exists()
    store = app.extensions["consentry.stores"]["audit_exports"]
    with app.app_context(), get_db(app).transaction() as s:
        result = store.erase(s, "u-1", Held())
    assert result.deleted == 1 and not path.exists()
    gone = client.get(f"/v1/audit/exports/{everyone}", headers=admin)
    assert gone.status_code == 410 and "erasure" in gone.get_json()["error"]["message"]
    kept = client.get(f"/v1/audit/exports/{other}", headers=admin)
    assert kept.status_code == 200
    kept.close()


def test_bundles_expire_after_the_keep_window_unless_held(app, client, admin, append):
    append(1, subject_id="u-3")
    old = make_export(client, admin)
    held = make_export(client, admin, subject_id="u-3")
    fresh = make_export(client, admin)
    with app.app_context(), get_db(app).transaction() as s:
        s.execute(update(AuditExport).where(AuditExport.id.in_([old, held]))
                  .values(created_at=utcnow() - timedelta(days=31)))
    store = app.extensions["consentry.stores"]["audit_exports"]
    with app.app_context(), get_db(app).transaction() as s:
        dry = store.purge(s, {}, Held(subject_ids=frozenset({"u-3"})), 100, True)
        result = store.purge(s, {}, Held(subject_ids=frozenset({"u-3"})), 100, False)
    assert (dry.matched, dry.held) == (1, 1)
    assert (result.deleted, result.held) == (1, 1)
    with app.app_context(), get_db(app).transaction(write=False) as s:
        on_disk = {r.id for r in s.scalars(select(AuditExport)) if Path(r.path).exists()}
    assert on_disk == {held, fresh}
    gone = client.get(f"/v1/audit/exports/{old}", headers=admin)
    assert gone.status_code == 410 and "expired" in gone.get_json()["error"]["message"]
    assert client.get("/v1/audit/exports/" + "0" * 32, headers=admin).status_code == 404


def test_an_export_does_not_hold_the_write_lock_while_it_streams(app, append, tmp_path):
    """On SQLite a write lock is the whole database's: writers must go on during an export."""
    from audit.export import ExportRequest, export_bundle
    from audit.service import append_entry

    append(2500)
    written = []

    def write_meanwhile(_n):
        with app.app_context(), get_db(app).transaction() as s:
            append_entry(s, get_keys(), "test.during_export")
        written.append(True)

    with app.app_context():
        record = export_bundle(get_db(), get_keys(), ExportRequest(exporter="t", reason="r"),
                               out=tmp_path / "b.zip", progress=write_meanwhile)
    assert written  # two writes committed while the export streamed
    assert record.count == record.checkpoint_size >= 2500  # ends at its checkpoint
