"""HTTP views of retention: policy, runs, legal holds and erasures."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from consentry.auth import current_principal, scoped
from consentry.db import get_session
from consentry.idempotency import idempotent
from consentry.policy import get_policy
from consentry.secretstore import get_keys
from consentry.stores import registered_stores
from retention import service
from retention.schemas import (
    ErasureListQuerySchema,
    ErasureListSchema,
    ErasureQueuedSchema,
    ErasureRequestSchema,
    ErasureSchema,
    HoldListQuerySchema,
    HoldListSchema,
    HoldRequestSchema,
    HoldSchema,
    RetentionPolicySchema,
    RunListQuerySchema,
    RunListSchema,
    RunQueuedSchema,
    RunRequestSchema,
    RunSchema,
)

blp = Blueprint("retention", __name__, description="Retention runs, legal holds and erasure")


def _store_names() -> list[str]:
    return list(registered_stores(current_app))


@blp.route("/v1/retention/policy")
class RetentionPolicyView(MethodView):
    @scoped("retention:admin")
    @blp.response(200, RetentionPolicySchema)
    def get(self):
        """Retention classes, their days and every target."""
        return service.describe_policy(get_policy(), _store_names(),
                                       current_app.config["RETENTION_CRON"])


@blp.route("/v1/retention/runs")
class RunsView(MethodView):
    @scoped("retention:admin")
    @idempotent
    @blp.arguments(RunRequestSchema())
    @blp.response(202, RunQueuedSchema)
    def post(self, body):
        """Queue a run (a dry run only counts); the scheduler starts it within seconds."""
        known = service.target_names(get_policy(), _store_names())
        run = service.queue_run(get_session(), get_keys(), known, dry_run=body["dry_run"],
                                targets=body["targets"], trigger="api",
                                actor=current_principal().name)
        return {"run_id": run.id, "status": run.status}

    @scoped("retention:admin")
    @blp.arguments(RunListQuerySchema(), location="query")
    @blp.response(200, RunListSchema)
    def get(self, query):
        """Runs, newest first."""
        runs, cursor = service.list_runs(get_session(), query["limit"], query["cursor"],
                                         query["status"])
        return {"runs": [service.run_document(r) for r in runs], "next": cursor}


@blp.route("/v1/retention/runs/<run_id>")
class RunView(MethodView):
    @scoped("retention:admin")
    @blp.response(200, RunSchema)
    def get(self, run_id):
        """A run: status, cutoffs, per-target rows matched, deleted and held."""
        return service.run_document(service.get_run(get_session(), run_id))


@blp.route("/v1/retention/holds")
class HoldsView(MethodView):
    @scoped("retention:admin")
    @idempotent
    @blp.arguments(HoldRequestSchema())
    @blp.response(201, HoldSchema)
    def post(self, body):
        """Place a legal hold on a subject or a category."""
        hold = service.create_hold(get_session(), get_keys(), get_policy(),
                                   subject_id=body["subject_id"],
                                   category=body["category"], reason=body["reason"],
                                   until=body["until"], actor=current_principal().name)
        return service.hold_document(get_session(), get_keys(), hold)

    @scoped("retention:admin")
    @blp.arguments(HoldListQuerySchema(), location="query")
    @blp.response(200, HoldListSchema)
    def get(self, query):
        """Legal holds, newest first (active ones unless include_lifted)."""
        holds, cursor = service.list_holds(get_session(), query["limit"], query["cursor"],
                                           query["include_lifted"])
        session, keys = get_session(), get_keys()
        return {"holds": [service.hold_document(session, keys, h) for h in holds],
                "next": cursor}


@blp.route("/v1/retention/holds/<hold_id>")
class HoldView(MethodView):
    @scoped("retention:admin")
    @idempotent
    @blp.response(200, HoldSchema)
    def delete(self, hold_id):
        """Lift a legal hold."""
        hold = service.lift_hold(get_session(), get_keys(), hold_id, current_principal().name)
        return service.hold_document(get_session(), get_keys(), hold)


@blp.route("/v1/subjects/<subject:subject_id>/erasure")
class ErasureRequestView(MethodView):
    @scoped("erasure:write")
    @idempotent
    @blp.arguments(ErasureRequestSchema())
    @blp.response(202, ErasureQueuedSchema)
    def post(self, body, subject_id):
        """Erase a subject (GDPR Art. 17); the scheduler carries it out within seconds.
        The body is optional: `{"reason"}` keeps why (or a ticket reference) with it."""
        erasure = service.queue_erasure(get_session(), get_keys(), subject_id,
                                        current_principal().name, reason=body["reason"])
        return {"erasure_id": erasure.id, "status": erasure.status}


@blp.route("/v1/erasures")
class ErasuresView(MethodView):
    @scoped("erasure:write", "audit:read")
    @blp.arguments(ErasureListQuerySchema(), location="query")
    @blp.response(200, ErasureListSchema)
    def get(self, query):
        """Erasures, newest first, with their reasons, reports and certificates."""
        rows, cursor = service.list_erasures(get_session(), query["limit"], query["cursor"])
        return {"erasures": [service.erasure_document(e) for e in rows], "next": cursor}


@blp.route("/v1/erasures/<erasure_id>")
class ErasureView(MethodView):
    @scoped("erasure:write", "audit:read")
    @blp.response(200, ErasureSchema)
    def get(self, erasure_id):
        """An erasure: rows deleted per target, what holds kept, the signed certificate and
        the recipients told of it (`recipients_notified`, GDPR Art. 17(2) and 19)."""
        session = get_session()
        return service.erasure_document(service.get_erasure(session, erasure_id), session)
