"""HTTP views of webhooks: endpoints, their secrets and their deliveries (admin only)."""

from __future__ import annotations

import re

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from consentry.auth import current_principal, scoped
from consentry.db import get_session
from consentry.errors import Invalid, NotFound
from consentry.policy import get_policy
from consentry.secretstore import get_keys
from webhooks import service
from webhooks.schemas import (
    DeliveryListSchema,
    DeliveryQuerySchema,
    RetryQueuedSchema,
    SecretSchema,
    WebhookListSchema,
    WebhookPutSchema,
    WebhookSchema,
)

blp = Blueprint("webhooks", __name__,
                description="Signed webhooks (Standard Webhooks) to the policy's recipients")
_ID = re.compile(service.ENDPOINT_ID)


def _known(webhook_id: str) -> str:
    if not _ID.match(webhook_id):
        raise NotFound(f"no webhook {webhook_id[:64]!r}")
    return webhook_id


def _document(endpoint, **extra) -> dict:
    return {**service.endpoint_document(get_session(), endpoint), **extra}


@blp.route("/v1/webhooks")
class Webhooks(MethodView):
    @scoped("admin")
    @blp.response(200, WebhookListSchema)
    def get(self):
        """Every webhook endpoint, with its delivery counts (never its secret)."""
        return {"webhooks": [_document(e) for e in service.list_endpoints(get_session())]}


@blp.route("/v1/webhooks/<string:webhook_id>")
class Webhook(MethodView):
    @scoped("admin")
    @blp.arguments(WebhookPutSchema())
    @blp.response(200, WebhookSchema)
    def put(self, body, webhook_id):
        """Register (or change) an endpoint for a recipient. The answer carries the
        signing secret (`whsec_...`) the first time only. The URL must be https (unless
        CONSENTRY_WEBHOOK_ALLOW_HTTP=1) and resolve to public addresses only (unless
        CONSENTRY_WEBHOOK_ALLOW_PRIVATE=1), else 422."""
        if not _ID.match(webhook_id):
            raise Invalid("Malformed webhook id.", fields={"webhook_id": [
                "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."]})
        config = current_app.config
        endpoint, secret = service.put_endpoint(
            get_session(), get_keys(), get_policy(), webhook_id, actor=current_principal().name,
            allow_http=config["WEBHOOK_ALLOW_HTTP"], allow_private=config["WEBHOOK_ALLOW_PRIVATE"],
            **body)
        return _document(endpoint, **({"secret": secret} if secret else {}))

    @scoped("admin")
    @blp.response(200, WebhookSchema)
    def get(self, webhook_id):
        """One endpoint."""
        return _document(service.get_endpoint(get_session(), _known(webhook_id)))

    @scoped("admin")
    @blp.response(204)
    def delete(self, webhook_id):
        """Remove an endpoint and its deliveries (the proof of notices stays)."""
        service.delete_endpoint(get_session(), get_keys(), _known(webhook_id),
                                current_principal().name)


@blp.route("/v1/webhooks/<string:webhook_id>/rotate-secret")
class RotateSecret(MethodView):
    @scoped("admin")
    @blp.response(200, SecretSchema)
    def post(self, webhook_id):
        """A new signing secret, shown once; the old one keeps signing (a second
        signature in `webhook-signature`) for 24 hours."""
        session = get_session()
        secret = service.rotate_secret(session, get_keys(), _known(webhook_id),
                                       current_principal().name)
        endpoint = service.get_endpoint(session, webhook_id)
        return {"webhook_id": webhook_id, "secret": secret,
                "previous_secret_valid_until": endpoint.previous_secret_until}


@blp.route("/v1/webhooks/<string:webhook_id>/deliveries")
class Deliveries(MethodView):
    @scoped("admin")
    @blp.arguments(DeliveryQuerySchema(), location="query")
    @blp.response(200, DeliveryListSchema)
    def get(self, query, webhook_id):
        """The endpoint's deliveries, newest first: status, attempts, the last answer's
        status and duration, and the next try."""
        rows, cursor = service.list_deliveries(get_session(), _known(webhook_id),
                                               query["limit"], query["cursor"], query["status"])
        return {"deliveries": [service.delivery_document(r) for r in rows], "next": cursor}


@blp.route("/v1/webhooks/<string:webhook_id>/deliveries/<string:delivery_id>/retry")
class RetryDelivery(MethodView):
    @scoped("admin")
    @blp.response(202, RetryQueuedSchema)
    def post(self, webhook_id, delivery_id):
        """Send a delivery again (also one already delivered) at the scheduler's next look."""
        row = service.retry_delivery(get_session(), _known(webhook_id), delivery_id)
        return {"delivery_id": row.delivery_id, "status": row.status,
                "next_attempt_at": row.next_attempt_at}
