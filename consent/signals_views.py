"""HTTP views of the signal gate (personalization engines)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from consent import signals
from consent.consent_mode import subject_consent_mode
from consent.schemas import (
    AllowedSignalsQuerySchema,
    AllowedSignalsSchema,
    ChangesQuerySchema,
    ChangesSchema,
    ConsentModeQuerySchema,
    ConsentModeSchema,
    SignalCheckResultSchema,
    SignalCheckSchema,
)
from consentry.auth import scoped
from consentry.clock import rfc3339, utcnow
from consentry.db import get_session
from consentry.fastpath import FastRoute
from consentry.fields import json_response
from consentry.openapi import error_response
from consentry.policy import get_policy
from consentry.secretstore import get_keys

blp = Blueprint("signals", __name__, description="Signal gate for personalization engines")


def check_allowed_signals_args(args: dict) -> None:
    """A 422 for a purpose, channel or jurisdiction the policy does not know."""
    get_policy().check_ids(purpose=args["purpose"], channel=args["channel"],
                           jurisdiction=args["jurisdiction"])


def allowed_signals_answer(raw_state: dict | None, subject_id: str, args: dict) -> dict:
    """The answer of a single lookup (checked arguments; the subject's stored state, None
    when unknown), for the view and its fast path."""
    policy = get_policy()
    now = utcnow()
    evaluation, token = signals.allowed_signals(
        raw_state, get_keys(), policy, subject_id, args["purpose"], args["channel"],
        args.get("categories"), args["jurisdiction"], now)
    # The hot path: built directly rather than dumped through the schema (same shape).
    return {
        "subject_id": subject_id, "purpose": evaluation.purpose,
        "channel": evaluation.channel, "jurisdiction": evaluation.jurisdiction,
        "allowed": evaluation.allowed, "denied": evaluation.denied,
        "limits": policy.signal_limits(evaluation.allowed),
        "policy_version": policy.version, "evaluated_at": rfc3339(now),
        "max_age": policy.token_max_age_seconds, "token": token}


ALLOWED_SIGNALS_RULE = "/v1/subjects/<subject:subject_id>/allowed-signals"


@blp.route(ALLOWED_SIGNALS_RULE)
class AllowedSignals(MethodView):
    @scoped("signals:read")
    @blp.arguments(AllowedSignalsQuerySchema(), location="query")
    @blp.response(200, AllowedSignalsSchema)
    def get(self, args, subject_id):
        """Which signal categories this purpose and channel may use, each denial with a reason.

        An unknown subject gets the jurisdiction's defaults; an unknown category is
        never allowed.
        """
        check_allowed_signals_args(args)
        raw_state = signals.raw_states_for(get_session(), [subject_id]).get(subject_id)
        return json_response(allowed_signals_answer(raw_state, subject_id, args))


@blp.route("/v1/subjects/<subject:subject_id>/consent-mode")
class ConsentMode(MethodView):
    @scoped("signals:read")
    @blp.arguments(ConsentModeQuerySchema(), location="query")
    @blp.response(200, ConsentModeSchema)
    @blp.alt_response(404, response=error_response(404))  # the policy maps no Consent Mode
    def get(self, args, subject_id):
        """Google Consent Mode v2: each of the seven fields `granted` or `denied`, through
        the policy's `[consent_mode]` table and the gate, with a signed token for a tag
        manager's server container.

        An unknown subject gets the jurisdiction's defaults, as the gate answers.
        """
        policy = get_policy()
        policy.check_ids(channel=args["channel"], jurisdiction=args["jurisdiction"])
        return subject_consent_mode(get_session(), get_keys(), policy, subject_id,
                                    args["channel"], args["jurisdiction"], utcnow())


@blp.route("/v1/signals/check")
class SignalCheck(MethodView):
    @scoped("signals:read")
    @blp.arguments(SignalCheckSchema())
    @blp.response(200, SignalCheckResultSchema)
    def post(self, body):
        """Batch: up to 1,000 subjects in one call, answered with one database query."""
        policy = get_policy()
        policy.check_ids(purpose=body["purpose"], channel=body["channel"],
                         jurisdiction=body["jurisdiction"])
        now = utcnow()
        results = signals.check_batch(get_session(), policy, body["subjects"], body["purpose"],
                                      body["channel"], body["categories"],
                                      body["jurisdiction"], now)
        return json_response({"results": results, "policy_version": policy.version,
                              "evaluated_at": rfc3339(now)})


@blp.route("/v1/changes")
class Changes(MethodView):
    @scoped("signals:read")
    @blp.arguments(ChangesQuerySchema(), location="query")
    @blp.response(200, ChangesSchema)
    def get(self, args):
        """Subjects whose effective state changed, in commit order; follow `next`."""
        return signals.changes(get_session(), args["after"], args["limit"])


# The single lookup's plain requests, answered without Flask's request machinery by the
# view's own functions (consentry/fastpath.py); `categories` and everything unusual go
# through the view.
FAST_ROUTES = [FastRoute(
    rule=ALLOWED_SIGNALS_RULE, scopes=AllowedSignals.get.accepted_scopes,
    fields=frozenset({"purpose", "channel", "jurisdiction"}), required=frozenset({"purpose"}),
    check=check_allowed_signals_args, read=signals.raw_state_now,
    answer=allowed_signals_answer)]
