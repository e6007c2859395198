"""HTTP views: the short-lived links a company's backend hands to a person's browser."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from consent import decisions
from consentry.auth import current_principal, scoped
from consentry.clock import rfc3339, utcnow
from consentry.db import get_session
from consentry.errors import DomainError, Invalid
from consentry.policy import get_policy
from consentry.secretstore import get_keys
from pages.links import NEEDS, issue_link
from pages.schemas import LinkRequestSchema, LinkSchema
from pages.urls import page_url

blp = Blueprint("page-links", __name__, description="Links to the pages for people")


def _issue(body: dict, *, page: str, subject_id: str, decision_id: str | None = None) -> dict:
    return_url = body["return_url"]
    if return_url is not None and not get_policy().allows_page_url(return_url):
        raise Invalid("return_url is not on an origin the policy lists under page_origins.",
                      fields={"return_url": ["Must be an http(s) URL on one of the policy's "
                                             "page_origins."]})
    principal = current_principal()
    if not principal.has(NEEDS[page]):
        raise DomainError(f"A link made with this key could do nothing on its page: it needs "
                          f"{NEEDS[page]} as well.", status=403, code="forbidden")
    link = issue_link(get_keys(), page=page, subject_id=subject_id, now=utcnow(),
                      seconds=current_app.config["PAGE_LINK_SECONDS"],
                      issued_by=principal.name, decision_id=decision_id,
                      language=body["language"], return_url=return_url,
                      key_id=None if principal.key_id is None else str(principal.key_id))
    return {"url": page_url(link), "expires_at": rfc3339(link.expires_at)}


@blp.route("/v1/subjects/<subject:subject_id>/preference-link")
class PreferenceLink(MethodView):
    @scoped("preferences:write")
    @blp.arguments(LinkRequestSchema())
    @blp.response(201, LinkSchema)
    def post(self, body, subject_id):
        """A short-lived URL of the person's preference page, for their browser.

        The page needs no API key: the URL carries an opaque token bound to this subject,
        valid for `CONSENTRY_PAGE_LINK_SECONDS`. The page does only what this key may:
        it shows state and receipts with `preferences:read` (without it the link could do
        nothing: 403), saves with `preferences:write`, and lists explanations with
        `explanations:read`; it opens nothing once the key is revoked. The URL starts with
        `CONSENTRY_PUBLIC_URL` when set, else the scheme and host of this request.
        """
        return _issue(body, page="preferences", subject_id=subject_id)


@blp.route("/v1/subjects/<subject:subject_id>/explanations/<decision_id>/link")
class ExplanationLink(MethodView):
    @scoped("explanations:read")
    @blp.arguments(LinkRequestSchema())
    @blp.response(201, LinkSchema)
    def post(self, body, subject_id, decision_id):
        """A short-lived URL of the "Why am I seeing this?" page of one decision.

        Another subject's decision is a 404. The page's buttons (which write consent)
        appear and act only when this key has `preferences:write`.
        """
        decisions.get_decision(get_session(), subject_id, decision_id)
        return _issue(body, page="explanation", subject_id=subject_id,
                      decision_id=decision_id)
