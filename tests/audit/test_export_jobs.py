"""Exports are queued work: the request queues, the scheduler's exporter writes the bundle."""

from __future__ import annotations

import io
import zipfile

from sqlalchemy import select

from audit import jobs
from audit.jobs import EXPORTER_LEASE, run_export_queue
from audit.models import AuditEntry, AuditExport, AuditExportJob
from consentry import leases, queue
from consentry.db import get_db
from consentry.stores import Held


def _job(app, export_id) -> AuditExportJob:
    with app.app_context(), get_db(app).transaction(write=False) as s:
        job = s.get(AuditExportJob, export_id)
        s.expunge(job)
        return job


def _actions(app) -> list[str]:
    with app.app_context(), get_db(app).transaction(write=False) as s:
        return list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def test_a_post_queues_and_get_answers_202_until_the_exporter_ran(app, client, make_key,
                                                                   append):
    append(3, subject_id="u-1")
    headers = make_key("audit:export", name="legal-team")
    r = client.post("/v1/audit/exports", json={"reason": "case 9", "subject_id": "u-1"},
                    headers=headers)
    assert r.status_code == 201
    body = r.get_json()
    assert body["status"] == "queued" and set(body) == {"export_id", "status"}
    export_id = body["export_id"]
    with app.app_context(), get_db(app).transaction(write=False) as s:
        assert s.scalar(select(AuditExport.id)) is None  # nothing written in the request
    assert _actions(app)[-1] == "audit.export.queued"

    for _ in range(2):
        pending = client.get(f"/v1/audit/exports/{export_id}", headers=headers)
        assert pending.status_code == 202
        assert pending.headers["Retry-After"] == "1"
        doc = pending.get_json()
        assert doc["export_id"] == export_id and doc["status"] == "queued"
        assert doc["requested_at"].endswith("Z")

    assert run_export_queue(app) == 1
    assert run_export_queue(app) == 0  # nothing left
    job = _job(app, export_id)
    assert job.status == "succeeded" and job.export_id == export_id
    assert job.subject_id is None and job.subject_ref  # the id is kept only until it ran
    r = client.get(f"/v1/audit/exports/{export_id}", headers=headers)
    assert r.status_code == 200 and r.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.data)) as z:
        assert b'"export_id": "' + export_id.encode() in z.read("manifest.json")
    r.close()
    assert _actions(app)[-1] == "audit.exported"


def test_a_running_export_answers_202_running(app, client, admin):
    export_id = client.post("/v1/audit/exports", json={}, headers=admin).get_json()["export_id"]
    with app.app_context(), get_db(app).transaction() as s:
        queue.claim(s, AuditExportJob, "someone")
    r = client.get(f"/v1/audit/exports/{export_id}", headers=admin)
    assert r.status_code == 202 and r.get_json()["status"] == "running"


def test_a_failed_export_answers_409_export_failed(app, client, admin, monkeypatch):
    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(jobs, "export_bundle", broken)
    export_id = client.post("/v1/audit/exports", json={"subject_id": "u-5"},
                            headers=admin).get_json()["export_id"]
    assert run_export_queue(app) == 1
    job = _job(app, export_id)
    assert job.status == "failed" and job.error == "OSError: disk full"
    assert job.subject_id is None
    r = client.get(f"/v1/audit/exports/{export_id}", headers=admin)
    assert r.status_code == 409
    error = r.get_json()["error"]
    assert error["code"] == "export_failed" and "disk full" in error["message"]
    assert _actions(app)[-1] == "audit.export.failed"


def test_an_export_left_running_by_a_dead_exporter_is_requeued_and_finished(app, client,
                                                                            admin, append):
    append(4)
    export_id = client.post("/v1/audit/exports", json={}, headers=admin).get_json()["export_id"]
    with app.app_context(), get_db(app).transaction() as s:
        assert queue.claim(s, AuditExportJob, "dead-host:1").id == export_id
    # the dead exporter's lease has run out (never taken here): the next one takes over
    assert run_export_queue(app, "alive") == 1
    job = _job(app, export_id)
    assert job.status == "succeeded" and job.holder == "alive"
    assert "audit.export.restarted" in _actions(app)
    r = client.get(f"/v1/audit/exports/{export_id}", headers=admin)
    assert r.status_code == 200
    r.close()


def test_a_job_whose_bundle_was_written_before_its_exporter_died_is_not_written_twice(
        app, client, admin, monkeypatch):
    export_id = client.post("/v1/audit/exports", json={}, headers=admin).get_json()["export_id"]
    finished = jobs.export_jobs.finish_export
    monkeypatch.setattr(jobs.export_jobs, "finish_export",
                        lambda *a: (_ for _ in ()).throw(SystemExit("killed")))
    try:
        run_export_queue(app, "dies")
    except SystemExit:
        pass
    monkeypatch.setattr(jobs.export_jobs, "finish_export", finished)
    with app.app_context(), get_db(app).transaction() as s:
        leases.release(s, EXPORTER_LEASE, "dies")
    assert _job(app, export_id).status == "running"
    assert run_export_queue(app, "next") == 1
    assert _job(app, export_id).status == "succeeded"
    with app.app_context(), get_db(app).transaction(write=False) as s:
        assert len(list(s.scalars(select(AuditExport)))) == 1


def test_only_one_exporter_runs_at_a_time(app, client, admin):
    client.post("/v1/audit/exports", json={}, headers=admin)
    with app.app_context(), get_db(app).transaction() as s:
        assert leases.acquire(s, EXPORTER_LEASE, "other", 60)
    assert run_export_queue(app, "me") == 0
    with app.app_context(), get_db(app).transaction() as s:
        leases.release(s, EXPORTER_LEASE, "other")
    assert run_export_queue(app, "me") == 1


def test_an_erasure_fails_queued_exports_filtered_to_the_subject(app, client, admin):
    mine = client.post("/v1/audit/exports", json={"subject_id": "u-7"},
                       headers=admin).get_json()["export_id"]
    other = client.post("/v1/audit/exports", json={"subject_id": "u-8"},
                        headers=admin).get_json()["export_id"]
    store = app.extensions["consentry.stores"]["audit_exports"]
    with app.app_context(), get_db(app).transaction() as s:
        store.erase(s, "u-7", Held())
    job = _job(app, mine)
    assert job.status == "failed" and job.subject_id is None
    assert _job(app, other).subject_id == "u-8"
    assert client.get(f"/v1/audit/exports/{mine}", headers=admin).status_code == 409


def test_the_scheduler_runs_the_export_queue(app):
    job = app.extensions["consentry.jobs"]["audit-exports"]
    assert job.func is jobs.export_job
    assert job.trigger == f"interval:{float(app.config['SCHEDULER_POLL_SECONDS'])}"


def test_the_openapi_document_states_202_and_409_for_a_download(client):
    spec = client.get("/openapi.json").get_json()
    responses = spec["paths"]["/v1/audit/exports/{export_id}"]["get"]["responses"]
    assert {"200", "202", "409"} <= set(responses)
    assert "Retry-After" in responses["202"]["headers"]
