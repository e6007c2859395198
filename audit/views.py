"""HTTP views of the audit log: entries, checkpoints and export bundles."""

from __future__ import annotations

from flask import current_app, send_file
from flask.views import MethodView
from flask_smorest import Blueprint

from audit import checkpoints, export, service
from audit.schemas import (
    CheckpointsPageSchema,
    EntriesPageSchema,
    EntriesQuerySchema,
    ExportCreatedSchema,
    ExportCreateSchema,
    PageQuerySchema,
)
from consentry.auth import current_principal, scoped
from consentry.db import get_db, get_session
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
        """Write a signed export bundle of the audit log; download it by its id."""
        request = export.ExportRequest(exporter=current_principal().name, **args)
        record = export.export_bundle(get_db(), get_keys(), request,
                                      out=current_app.config["AUDIT_EXPORT_DIR"])
        return {"export_id": record.id, "count": record.count,
                "tree_size": record.checkpoint_size}


@blp.route("/v1/audit/exports/<string:export_id>")
class ExportBundle(MethodView):
    @scoped("audit:export")
    @blp.response(200, content_type="application/zip",
                  description="The bundle: entries, proofs, checkpoint, signed manifest")
    def get(self, export_id):
        """Download an export bundle (zip)."""
        record = export.get_export(get_session(), export_id)
        return send_file(record.path, mimetype="application/zip", as_attachment=True,
                         download_name=f"consentry-audit-{record.id}.zip")
