"""HTTP views of the audit log: entries, checkpoints and export bundles."""

from __future__ import annotations

from flask import jsonify, send_file
from flask.views import MethodView
from flask_smorest import Blueprint

from audit import checkpoints, export, export_jobs, service
from audit.models import AuditExportJob
from audit.schemas import (
    AccessExportCreateSchema,
    CheckpointsPageSchema,
    EntriesPageSchema,
    EntriesQuerySchema,
    ExportCreatedSchema,
    ExportCreateSchema,
    ExportPendingSchema,
    PageQuerySchema,
)
from consentry.auth import current_principal, scoped
from consentry.db import get_session
from consentry.errors import ErrorSchema
from consentry.secretstore import get_keys

blp = Blueprint("audit", __name__, description="Audit log, signed checkpoints and exports")


def _position(args) -> int:
    return service.decode_cursor(args["cursor"]) if args.get("cursor") else 0


@blp.route("/v1/audit/entries")
class Entries(MethodView):
    @scoped("audit:read")
    @blp.arguments(EntriesQuerySchema, location="query")
    @blp.response(200, EntriesPageSchema)
    def get(self, args):
        """Audit entries in log order, filtered by time, action or subject."""
        session, keys = get_session(), get_keys()
        rows, after = service.list_entries(
            session, keys, since=args["since"], until=args["until"], action=args["action"],
            subject_id=args["subject_id"], after=_position(args), limit=args["limit"])
        return {"entries": [service.entry_view(session, keys, r) for r in rows],
                "next": service.encode_cursor(after) if after is not None else None}


@blp.route("/v1/audit/checkpoints")
class Checkpoints(MethodView):
    @scoped("audit:read")
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, CheckpointsPageSchema)
    def get(self, args):
        """Signed checkpoints (tree heads), newest first."""
        before = _position(args) if args.get("cursor") else None
        rows = checkpoints.list_checkpoints(get_session(), before, args["limit"] + 1)
        more = len(rows) > args["limit"]
        rows = rows[:args["limit"]]
        items = []
        for row in rows:
            statement = checkpoints.checkpoint_statement(row)
            items.append({"tree_size": row.tree_size, "root_hash": row.root_hash,
                          "ts": statement["checkpoint"]["ts"], "kid": row.kid,
                          "reason": row.reason, **statement})
        return {"checkpoints": items,
                "next": service.encode_cursor(rows[-1].tree_size) if more else None}


@blp.route("/v1/audit/exports")
class Exports(MethodView):
    @scoped("audit:export")
    @blp.arguments(ExportCreateSchema)
    @blp.response(201, ExportCreatedSchema)
    def post(self, args):
        """Queue a signed export bundle of the audit log; the scheduler writes it within
        seconds. Download it by its id."""
        request = export.ExportRequest(exporter=current_principal().name, **args)
        job = export_jobs.queue_export(get_session(), get_keys(), request)
        return {"export_id": job.id, "status": job.status}


@blp.route("/v1/subjects/<subject:subject_id>/access-exports")
class AccessExports(MethodView):
    @scoped("audit:export")
    @blp.arguments(AccessExportCreateSchema)
    @blp.response(201, ExportCreatedSchema)
    def post(self, args, subject_id):
        """Queue a subject access bundle (GDPR Art. 15): one person's consent history and
        signed receipts, the decisions about them with their explanations, holds and
        erasures naming them, and their audit entries with proofs, in one signed zip.

        Downloaded from `GET /v1/audit/exports/{export_id}` and verified offline like an
        audit bundle. A subject the service holds nothing about still gets a bundle: it
        says so, which is itself the answer Art. 15 asks for.
        """
        request = export.ExportRequest(exporter=current_principal().name,
                                       reason=args["reason"], subject_id=subject_id,
                                       kind=export.SUBJECT_ACCESS)
        job = export_jobs.queue_export(get_session(), get_keys(), request)
        return {"export_id": job.id, "status": job.status}


@blp.route("/v1/audit/exports/<string:export_id>")
class ExportBundle(MethodView):
    @scoped("audit:export")
    @blp.response(200, {"type": "string", "format": "binary"}, content_type="application/zip",
                  description="The bundle: entries, proofs, checkpoint, signed manifest")
    @blp.alt_response(202, schema=ExportPendingSchema,
                      description="Queued or being written: ask again after Retry-After "
                                  "seconds",
                      headers={"Retry-After": "Retry-After"})
    @blp.alt_response(409, schema=ErrorSchema,
                      description="The export failed (code `export_failed`)")
    @blp.alt_response(410, schema=ErrorSchema,
                      description="The bundle was deleted (code `gone`); the message says "
                                  "why: it expired, or an erasure removed it")
    def get(self, export_id):
        """Download an export bundle (zip); 202 while it is still queued or being written."""
        found = export_jobs.find_export(get_session(), export_id)
        if isinstance(found, AuditExportJob):
            return jsonify(export_jobs.job_document(found)), 202, {"Retry-After": "1"}
        return send_file(found.path, mimetype="application/zip", as_attachment=True,
                         download_name=export_jobs.download_name(found))
