"""The console's webhooks: every endpoint, the deliveries failing, a "send test event"
button. Pages of the console blueprint (console.views), gated as the API: `admin`.
They call webhooks.service, as the JSON views do."""

from __future__ import annotations

from flask import redirect, request, url_for

from consentry.db import get_session
from console.views import _render, bp, page
from webhooks import service as webhooks


@bp.get("/webhooks")
@page("admin")
def webhooks_page(signed):
    """The endpoints, their delivery counts, and the deliveries failing now."""
    session = get_session()
    endpoints = [webhooks.endpoint_document(session, e)
                 for e in webhooks.list_endpoints(session)]
    failing = [{**webhooks.delivery_document(d), "webhook_id": d.endpoint_id}
               for d in webhooks.failing_deliveries(session)]
    return _render("console/webhooks.html", endpoints=endpoints, failing=failing,
                   done=request.args.get("done"))


@bp.post("/webhooks/<webhook_id>/test")
@page("admin")
def webhook_test_post(signed, webhook_id):
    """Queue a `webhook.test` event to one endpoint; the scheduler sends it."""
    webhooks.emit_test(get_session(), webhook_id)
    return redirect(url_for("console.webhooks_page", done="test-queued"), code=303)
