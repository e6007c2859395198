"""Export jobs: a request queues an export; the scheduler writes the bundle.

The lifecycle is consentry.queue's (queued → running → succeeded | failed). The job's
id is the export's id: the bundle is recorded in `audit_exports` under it, so the id
the API answers at once is the one that downloads the zip later. The subject filter
(`subject_id`) is kept only until the job has run; the keyed `subject_ref` remains.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.export import ExportRequest, check_request, get_export
from audit.models import AuditExport, AuditExportJob
from audit.service import append_entry
from consentry import queue
from consentry.clock import rfc3339, utcnow
from consentry.errors import DomainError
from consentry.secretstore import SecretStore


class ExportFailed(DomainError):
    status = 409
    code = "export_failed"


def queue_export(session: Session, keys: SecretStore, request: ExportRequest) -> AuditExportJob:
    """Queue an export of `request` in the caller's transaction; audited."""
    check_request(request)
    job = AuditExportJob(
        id=uuid.uuid4().hex, status=queue.QUEUED, requested_by=request.exporter,
        reason=request.reason, since=request.since, until=request.until,
        subject_id=request.subject_id,
        subject_ref=keys.subject_ref(request.subject_id) if request.subject_id else None,
        action=request.action, format=request.format, created_at=utcnow())
    session.add(job)
    session.flush()
    append_entry(session, keys, "audit.export.queued", actor=request.exporter,
                 details={"export_id": job.id, "reason": request.reason,
                          "subject_filtered": job.subject_ref is not None,
                          "action": request.action, "format": request.format})
    return job


def job_request(job: AuditExportJob) -> ExportRequest:
    """The export a claimed job asks for."""
    return ExportRequest(exporter=job.requested_by, reason=job.reason, since=job.since,
                         until=job.until, subject_id=job.subject_id, action=job.action,
                         format=job.format)


def claim_export(session: Session, holder: str) -> AuditExportJob | None:
    """Mark the oldest queued export running for `holder`; None if none is queued."""
    return queue.claim(session, AuditExportJob, holder)


def finish_export(job: AuditExportJob, record: AuditExport) -> None:
    """Close a job whose bundle is written and recorded; forget the subject id."""
    job.export_id = record.id
    queue.finish(job, queue.SUCCEEDED)
    job.subject_id = None


def fail_export(session: Session, keys: SecretStore, job: AuditExportJob, message: str) -> None:
    """Close a job that could not be carried out; audited. It may be requested again."""
    queue.finish(job, queue.FAILED, message)
    job.subject_id = None
    append_entry(session, keys, "audit.export.failed", actor=job.requested_by,
                 details={"export_id": job.id, "error": message})


def requeue_dead_exports(session: Session, keys: SecretStore) -> list[str]:
    """Put exports left `running` by a dead exporter back in the queue; their ids.

    Only called by the holder of the exporter lease: while it holds it, nothing else
    exports, so anything still `running` belongs to a process that died.
    """
    requeued = []
    for job in queue.left_running(session, AuditExportJob):
        queue.requeue(job)
        requeued.append(job.id)
        append_entry(session, keys, "audit.export.restarted", actor="scheduler",
                     details={"export_id": job.id, "holder": job.holder})
    return requeued


def forget_subject(session: Session, subject_ref: str) -> int:
    """Fail the queued exports filtered to an erased subject and drop its id; how many."""
    jobs = list(session.scalars(select(AuditExportJob).where(
        AuditExportJob.subject_ref == subject_ref, AuditExportJob.status == queue.QUEUED)))
    for job in jobs:
        queue.finish(job, queue.FAILED, "the subject was erased before the export ran")
        job.subject_id = None
    return len(jobs)


def find_export(session: Session, export_id: str) -> AuditExport | AuditExportJob:
    """The bundle `export_id` if written, else its job while queued or running.

    Raises NotFound for an unknown id, ExportGone (410) for a bundle since expired or
    erased, and ExportFailed (409) for a job that failed. Exports written by the CLI
    have no job.
    """
    job = session.get(AuditExportJob, export_id) if len(export_id) <= 32 else None
    if job is None:
        return get_export(session, export_id)
    if job.status in (queue.QUEUED, queue.RUNNING):
        return job
    if job.status == queue.SUCCEEDED and job.export_id:
        return get_export(session, job.export_id)
    raise ExportFailed(f"export {job.id} failed: {job.error or 'unknown error'}")


def job_document(job: AuditExportJob) -> dict:
    """A job that has no bundle yet, as the API shows it."""
    return {"export_id": job.id, "status": job.status, "requested_at": rfc3339(job.created_at)}

