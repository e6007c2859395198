"""HTTP views: decisions, "why am I seeing this", recommender transparency."""

from __future__ import annotations

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from consent import decisions
from consent.explain import pick_language
from consent.schemas import (
    DecisionBatchResultSchema,
    DecisionBatchSchema,
    DecisionResultSchema,
    DecisionSchema,
    ExplanationListQuerySchema,
    ExplanationListSchema,
    ExplanationSchema,
    TransparencySchema,
)
from consentry.auth import current_principal, scoped
from consentry.clock import utcnow
from consentry.db import get_session
from consentry.fields import json_response
from consentry.idempotency import idempotent
from consentry.metrics import get_metrics
from consentry.openapi import reads_header
from consentry.policy import get_policy
from consentry.secretstore import get_keys

blp = Blueprint("decisions", __name__, description="Decisions and why am I seeing this")


@blp.route("/v1/decisions")
class Decisions(MethodView):
    @scoped("decisions:write")
    @idempotent
    @blp.arguments(DecisionSchema())
    @blp.response(201, DecisionResultSchema)
    def post(self, body):
        """Record what was shown and why; judged against consent at `decided_at`."""
        session = get_session()
        recipe_id = body["recipe_id"]
        stored = decisions.record_decision(
            session, get_keys(), get_policy(), **_decision_input(body),
            actor=current_principal().name,
            recipe=_recipe(session, recipe_id) if recipe_id else None)
        _count_violations([stored])
        # Straight to JSON, as the batch answers (the schema documents it): the engines'
        # hot write path.
        return json_response(_result(stored), 201)


@blp.route("/v1/decisions/batch")
class DecisionBatch(MethodView):
    @scoped("decisions:write")
    @idempotent
    @blp.arguments(DecisionBatchSchema())
    @blp.response(201, DecisionBatchResultSchema)
    def post(self, body):
        """Record up to 1,000 decisions in one transaction; results in the order sent.

        Each decision is judged as `POST /v1/decisions` judges one. One invalid decision
        is a 422 naming `decisions.<n>.<field>`, and none of the batch is stored.
        """
        session = get_session()
        cited = dict.fromkeys(d["recipe_id"] for d in body["decisions"] if d["recipe_id"])
        stored = decisions.record_decisions(
            session, get_keys(), get_policy(),
            [_decision_input(d) for d in body["decisions"]], actor=current_principal().name,
            recipes={recipe_id: _recipe(session, recipe_id) for recipe_id in cited})
        _count_violations(stored)
        # Built once, straight to JSON (the schema documents it): a batch answers 1,000.
        return json_response({"results": [_result(d) for d in stored]}, 201)


def _decision_input(body: dict) -> dict:
    """A loaded decision as the service takes it (unset optional parts left out)."""
    rule = body["rule"]
    return {"subject_id": body["subject_id"], "surface": body["surface"],
            "channel": body["channel"], "purpose": body["purpose"],
            "item": _set_only(body["item"]),
            "signals_used": [_set_only(s) for s in body["signals_used"]],
            "rule": _set_only(rule) if rule else None,
            "decided_at": body["decided_at"], "recipe_id": body["recipe_id"]}


def _set_only(part: dict) -> dict:
    """`part` without its unset (None) keys; `part` itself when it has none."""
    return part if None not in part.values() else {k: v for k, v in part.items()
                                                     if v is not None}


def _count_violations(stored: list[dict]) -> None:
    metrics, policy = get_metrics(), get_policy()
    for decision in stored:
        for violation in decision["violations"]:
            metrics.count_violation(policy, violation["category"], decision["surface"])


def _result(decision: dict) -> dict:
    return {"decision_id": decision["decision_id"], "conformant": decision["conformant"],
            "violations": decision["violations"]}


def _recipe(session, recipe_id: str, version: int | None = None):
    """The recipe (as `decisions.RecipeUse`) through the lookup the app wired in, or None."""
    lookup = current_app.extensions.get(decisions.RECIPE_LOOKUP)
    return lookup(session, recipe_id, version) if lookup else None


def _explain(session, decision, policy, language: str, memo: dict | None = None) -> dict:
    return decisions.explain_decision(session, decision, policy, language,
                                      current_app.extensions.get(decisions.RECIPE_LOOKUP), memo)


def _language() -> str:
    return pick_language(request.accept_languages)


@blp.route("/v1/subjects/<subject:subject_id>/explanations/<decision_id>")
class Explanation(MethodView):
    @scoped("explanations:read")
    @reads_header("Accept-Language")
    @blp.response(200, ExplanationSchema, headers={"Content-Language": {"schema": {
        "type": "string"}}})
    def get(self, subject_id, decision_id):
        """Why this person saw this: a plain headline, every reason, and the controls.

        Another subject's decision is a 404. `Accept-Language` picks English or German.
        """
        session = get_session()
        decision = decisions.get_decision(session, subject_id, decision_id)
        language = _language()
        return _explain(session, decision, get_policy(), language), 200, {
            "Content-Language": language}


@blp.route("/v1/subjects/<subject:subject_id>/explanations")
class Explanations(MethodView):
    @scoped("explanations:read")
    @reads_header("Accept-Language")
    @blp.arguments(ExplanationListQuerySchema(), location="query")
    @blp.response(200, ExplanationListSchema)
    def get(self, args, subject_id):
        """The subject's recent explanations, newest first."""
        session = get_session()
        page, nxt = decisions.recent_decisions(session, subject_id, args["surface"],
                                               args["limit"], args["cursor"])
        policy, language, memo = get_policy(), _language(), {}
        return {"explanations": [_explain(session, d, policy, language, memo) for d in page],
                "next": nxt}


@blp.route("/v1/transparency/recommenders")
class Transparency(MethodView):
    @scoped("policy:read")
    @blp.response(200, TransparencySchema)
    def get(self):
        """Main parameters of the recommenders (DSA Art. 27): per surface, last 30 days."""
        now = utcnow()
        return {"window_days": decisions.TRANSPARENCY_WINDOW.days, "generated_at": now,
                "surfaces": decisions.transparency(get_session(), now)}
