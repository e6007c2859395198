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

from audit.export import SUBJECT_ACCESS, ExportRequest, check_request, get_export, gone_reason
from audit.models import AuditExport, AuditExportJob
from audit.service import append_entry
from consentry import queue
from consentry.clock import rfc3339, utcnow
from consentry.errors import DomainError, NotFound
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
        action=request.action, format=request.format, kind=request.kind, created_at=utcnow())
    session.add(job)
    session.flush()
    append_entry(session, keys, "audit.export.queued", actor=request.exporter,
                 details={"export_id": job.id, "reason": request.reason,
                          "subject_filtered": job.subject_ref is not None,
                          "action": request.action, "format": request.format,
                          "kind": request.kind})
    return job


def job_request(job: AuditExportJob) -> ExportRequest:
    """The export a claimed job asks for."""
    return ExportRequest(exporter=job.requested_by, reason=job.reason, since=job.since,
                         until=job.until, subject_id=job.subject_id, action=job.action,
                         format=job.format, kind=job.kind)


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


def download_name(record: AuditExport) -> str:
    """The file name a bundle downloads under: an access bundle says it is one."""
    prefix = "consentry-access" if record.kind == SUBJECT_ACCESS else "consentry-audit"
    return f"{prefix}-{record.id}.zip"


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


def export_document(job: AuditExportJob | None, record: AuditExport | None) -> dict:
    """One export as staff see it: its request, its state, and the bundle when written.

    `state` is `queued`, `running`, `failed`, `ready`, `expired` or `erased`; `kind` is
    `audit` or `subject_access`.
    """
    source = job if job is not None else record
    assert source is not None
    state = job.status if job is not None else queue.SUCCEEDED
    if state == queue.SUCCEEDED:
        state = (gone_reason(record) if record is not None else None) or "ready"
    return {
        "export_id": source.id, "state": state, "kind": source.kind,
        "requested_by": job.requested_by if job is not None else record.exporter,
        "requested_at": source.created_at, "reason": source.reason,
        "since": source.since, "until": source.until,
        "subject_filtered": source.subject_ref is not None, "action": source.action,
        "format": source.format, "error": job.error if job is not None else None,
        "finished_at": job.finished_at if job is not None else record.created_at,
        "count": record.count if record is not None else None,
        "size_bytes": record.size_bytes if record is not None else None,
        "sha256": record.sha256 if record is not None else None,
        "tree_size": record.checkpoint_size if record is not None else None,
    }


def describe_export(session: Session, export_id: str) -> dict:
    """`export_document` of one export, queued or written; NotFound for an unknown id."""
    job = session.get(AuditExportJob, export_id) if len(export_id) <= 32 else None
    record_id = job.export_id if job is not None else export_id
    record = session.get(AuditExport, record_id) if record_id and len(record_id) <= 32 else None
    if job is None and record is None:
        raise NotFound(f"no export {export_id!r}")
    return export_document(job, record)


def recent_exports(session: Session, limit: int = 50) -> list[dict]:
    """The newest exports, queued or written (by the API or the CLI), newest first."""
    jobs = list(session.scalars(select(AuditExportJob)
                                .order_by(AuditExportJob.created_at.desc()).limit(limit)))
    records = {r.id: r for r in session.scalars(
        select(AuditExport).order_by(AuditExport.created_at.desc()).limit(limit))}
    wanted = [j.export_id for j in jobs if j.export_id and j.export_id not in records]
    if wanted:
        records.update({r.id: r for r in session.scalars(
            select(AuditExport).where(AuditExport.id.in_(wanted)))})
    documents = [export_document(j, records.pop(j.export_id, None) if j.export_id else None)
                 for j in jobs]
    documents += [export_document(None, r) for r in records.values()]
    documents.sort(key=lambda d: d["requested_at"], reverse=True)
    return documents[:limit]
