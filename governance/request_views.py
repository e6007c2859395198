"""HTTP views of privacy requests (DSAR): the queue and each request's steps."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from consentry.auth import current_principal, scoped
from consentry.clock import utcnow
from consentry.db import get_session
from consentry.idempotency import idempotent
from consentry.openapi import error_response
from consentry.policy import get_policy
from consentry.secretstore import get_keys
from governance import privacy_requests as service
from governance.request_schemas import (
    RequestCreateSchema,
    RequestExtendSchema,
    RequestListQuerySchema,
    RequestListSchema,
    RequestSchema,
    RequestTransitionSchema,
)

blp = Blueprint("requests", __name__, description="Privacy requests (DSAR) and their deadlines")


def _document(row) -> dict:
    return service.request_document(get_session(), row)


@blp.route("/v1/requests")
class Requests(MethodView):
    @scoped("requests:write")
    @idempotent
    @blp.arguments(RequestCreateSchema())
    @blp.response(201, RequestSchema)
    def post(self, body):
        """Record a privacy request (access, erasure, objection, rectification); `due_at`
        is `received_at` plus the jurisdiction's `request_due` (a month ends on the same
        day of the next month, or that month's last day)."""
        row = service.create_request(get_session(), get_keys(), get_policy(),
                                     actor=current_principal().name, **body)
        return _document(row)

    @scoped("requests:read")
    @blp.arguments(RequestListQuerySchema(), location="query")
    @blp.response(200, RequestListSchema)
    def get(self, query):
        """Requests, soonest due first; filter by status (`open` for every open one),
        type, jurisdiction, subject and `due_before`."""
        session, now = get_session(), utcnow()
        rows, cursor = service.list_requests(session, **query)
        return {"requests": [service.request_document(session, r, now=now, with_history=False)
                             for r in rows], "next": cursor}


@blp.route("/v1/requests/<string:request_id>")
class Request(MethodView):
    @scoped("requests:read")
    @blp.response(200, RequestSchema)
    def get(self, request_id):
        """A request with its history (each step's status, time, actor and reason), and
        the bundle or erasure that fulfils it with its state."""
        return _document(service.get_request(get_session(), request_id))


@blp.route("/v1/requests/<string:request_id>/transition")
class Transition(MethodView):
    @scoped("requests:write")
    @idempotent
    @blp.arguments(RequestTransitionSchema())
    @blp.response(200, RequestSchema)
    @blp.alt_response(409, response=error_response(409))  # a closed request
    def post(self, body, request_id):
        """Move a request to `in_progress`, `completed` or `rejected` (with a reason).
        Completing an access request queues its subject access bundle (`export_id`);
        completing an erasure request starts the erasure (`erasure_id`), which waits
        while a legal hold is on the subject. A closed request → 409."""
        row = service.transition(get_session(), get_keys(), get_policy(), request_id, body["to"],
                                 reason=body["reason"], actor=current_principal().name)
        return _document(row)


@blp.route("/v1/requests/<string:request_id>/extend")
class Extend(MethodView):
    @scoped("requests:write")
    @idempotent
    @blp.arguments(RequestExtendSchema())
    @blp.response(200, RequestSchema)
    @blp.alt_response(409, response=error_response(409))  # extended already, or closed
    def post(self, body, request_id):
        """Extend the due date once by the jurisdiction's `request_extension` (GDPR: two
        further months), with the reason the person must be told. A second time → 409."""
        row = service.extend(get_session(), get_keys(), get_policy(), request_id,
                             reason=body["reason"], actor=current_principal().name)
        return _document(row)
