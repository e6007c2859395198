"""HTTP views of the consent domain: policy and the preference-center API."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import bindparam, select
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from consent import ledger, notices
from consent.explain import pick_language
from consent.iab.mapping import ignored_sections
from consent.models import SubjectState
from consent.receipts import controller_record
from consent.schemas import (
    ConsentQuerySchema,
    ConsentStateSchema,
    ConsentWriteResultSchema,
    ConsentWriteSchema,
    HistorySchema,
    OptOutQuerySchema,
    OptOutSchema,
    PolicySchema,
    ReceiptOrKantara,
    ReceiptQuerySchema,
    RejectAllSchema,
)
from consent.state import ConsentState
from consentry.auth import current_principal, scoped
from consentry.clock import rfc3339, utcnow
from consentry.db import get_session, json_value
from consentry.fastpath import FastRoute
from consentry.fields import json_response
from consentry.idempotency import idempotent
from consentry.openapi import reads_header
from consentry.pagination import PageArgsSchema
from consentry.policy import RECIPIENT_ROLES, get_policy
from consentry.secretstore import get_keys

blp = Blueprint("consent", __name__, description="Policy, consent ledger and preference center")
CONTENT_LANGUAGE = {"Content-Language": {"schema": {"type": "string"},
                                         "description": "The language of the labels"}}
CONSENTS_RULE = "/v1/subjects/<subject:subject_id>/consents"


def _state_body(answer: dict, receipt: dict | None = None, **extra) -> dict:
    """The state answer as JSON values, built directly (ConsentStateSchema documents its
    shape): it is the preference center's whole matrix, and dumping it field by field is
    slow."""
    body = {**answer, "evaluated_at": rfc3339(answer["evaluated_at"]),
            "entries": [{**e, "since": rfc3339(e["since"])} if e["since"] else e
                        for e in answer["entries"]], **extra}
    if "at" in body:
        body["at"] = rfc3339(body["at"]) if body["at"] else None
    if receipt is not None:
        body["receipt"] = receipt
    return body


def _labels_language(body: dict) -> list[tuple[str, str]]:
    """`Content-Language`: the language of the answer's labels."""
    return [("Content-Language", body["language"])]


def _state_response(answer: dict, receipt: dict | None = None, **extra):
    """The state answer (`_state_body`), its labels' language named by `Content-Language`."""
    body = _state_body(answer, receipt, **extra)
    response = json_response(body)
    response.headers.extend(_labels_language(body))
    return response


def _noticed(answer: dict, subject_id: str, at=None) -> dict:
    """The state answer with `reconsent_needed` and the newest `notice` (as of `at`)."""
    status = notices.notice_status(get_session(), get_policy(), subject_id, at)
    notice = status["notice"]
    if notice is not None:
        notice = {**notice, "recorded_at": rfc3339(notice["recorded_at"])}
    return {**answer, "reconsent_needed": status["reconsent_needed"], "notice": notice}


def _language() -> str:
    return pick_language(request.accept_languages)


def _gpc_header() -> bool:
    """Whether this request carries Global Privacy Control (every view reads it here)."""
    return ledger.gpc_signal(request.headers.getlist("Sec-GPC"))


@blp.route("/v1/policy")
class PolicyView(MethodView):
    @scoped("policy:read")
    @reads_header("Accept-Language")
    @blp.response(200, PolicySchema, headers=CONTENT_LANGUAGE)
    def get(self):
        """The active policy. `label` and `description` of each purpose and category are
        in the language `Accept-Language` asks for (English or German); `labels` and
        `descriptions` hold every language the policy has."""
        policy = get_policy()
        language = _language()
        return {
            "version": policy.version,
            "language": language,
            "controller": policy.controller,
            "controller_contact": (controller_record(policy) if policy.controller_contact
                                   else None),
            "recipients": [{**vars(r), "dpv_role": RECIPIENT_ROLES[r.role],
                            "third_country": r.third_country}
                           for r in policy.recipients],
            "consent_valid_days": policy.consent_valid_days,
            "policy_url": policy.policy_url,
            "preference_center_url": policy.preference_center_url,
            "default_jurisdiction": policy.default_jurisdiction,
            "token_max_age_seconds": policy.token_max_age_seconds,
            "consent_max_age_days": policy.consent_max_age_days,
            "default_notice": policy.default_notice,
            "purposes": [_labelled(p, language) for p in policy.purposes.values()],
            "categories": [_labelled(c, language) for c in policy.categories.values()],
            "channels": [{"id": k, "label": v} for k, v in policy.channels.items()],
            "jurisdictions": list(policy.jurisdictions.values()),
            "retention": dict(policy.retention_classes),
            **_standard_mappings(policy),
        }, 200, {"Content-Language": language}


def _standard_mappings(policy) -> dict:
    """The policy's `[tcf]` and `[gpp]` tables as they print in TOML (keys as text)."""
    data = policy.to_dict()
    return {"tcf": data.get("tcf", {}), "gpp": data.get("gpp", {})}


def _labelled(thing, language: str) -> dict:
    """A purpose or category of the policy answer, labelled in `language`."""
    return {**vars(thing), "label": thing.label_in(language),
            "description": thing.description_in(language), "labels": thing.all_labels(),
            "descriptions": thing.all_descriptions()}


@blp.route(CONSENTS_RULE)
class Consents(MethodView):
    @scoped("preferences:write")
    @idempotent
    @reads_header("Sec-GPC")
    @reads_header("Accept-Language")
    @blp.arguments(ConsentWriteSchema())
    @blp.response(200, ConsentWriteResultSchema)
    def put(self, body, subject_id):
        """Record choices (each an append-only event); answer the new state and a receipt.

        A `Sec-GPC: 1` header (or `"gpc": true`) records a sale/sharing opt-out with
        source `gpc`; with GPC, `"choices": []` records the signal alone (without it, at
        least one choice). Honours `Idempotency-Key`.

        `"tcf": {"tc_string"}` and `"gpp": {"gpp_string"}` (IAB TCF and GPP, as a CMP
        stored them) are decoded and recorded through the policy's `[tcf]` and `[gpp]`
        tables in the same write and receipt, with or without `choices`; a malformed
        string is a 422 on `tcf.tc_string` or `gpp.gpp_string` and nothing is recorded.
        """
        policy = get_policy()
        choices = [ledger.ChoiceInput(**c) for c in body["choices"]]
        state, receipt = ledger.record_choices(
            get_session(), get_keys(), policy, subject_id, choices=choices, source=body["source"],
            actor=current_principal().name, jurisdiction=body["jurisdiction"],
            notice_version=body["notice_version"], evidence=body["evidence"],
            gpc=body["gpc"] or _gpc_header(),
            idempotency_key=request.headers.get("Idempotency-Key"), language=_language(),
            tc_string=(body["tcf"] or {}).get("tc_string"),
            gpp_string=(body["gpp"] or {}).get("gpp_string"))
        extra = ignored_sections(receipt["gpp"]["gpp_string"]) if "gpp" in receipt else {}
        return _state_response(_noticed(ledger.describe_state(
            subject_id, state, policy, utcnow(), language=_language()), subject_id),
            receipt, **extra)

    @scoped("preferences:read")
    @reads_header("Accept-Language")
    @blp.arguments(ConsentQuerySchema(), location="query")
    @blp.response(200, ConsentStateSchema, headers=CONTENT_LANGUAGE)
    def get(self, args, subject_id):
        """The effective status and reason of every toggle, now or `?at=` a past moment.

        Each purpose has a row of its own (`category` null: its toggle), then a row per
        category. Labels are in the language `Accept-Language` asks for (English or German)."""
        policy = get_policy()
        session = get_session()
        at = args["at"]
        if at is None:
            state = ledger.load_state(session, subject_id) or ConsentState()
            moment = utcnow()
        else:
            state = ledger.replay_state(session, subject_id, at)
            moment = at
        check_consents_args(args)
        answer = ledger.describe_state(subject_id, state, policy, moment, args["jurisdiction"],
                                       _language())
        answer = _noticed(answer, subject_id, at)
        answer["at"] = at
        return _state_response(answer)


def check_consents_args(args: dict) -> None:
    """A 422 for a jurisdiction the policy does not know."""
    get_policy().check_ids(jurisdiction=args["jurisdiction"])


_STATE_AND_NOTICES = select(
    select(SubjectState.state).where(SubjectState.subject_id == bindparam("subject_id"))
    .scalar_subquery().label("state"), notices.RECORDED.label("notices_recorded"))


def _state_and_notices(database, subject_id: str) -> tuple:
    """The subject's stored state (None when unknown) and whether any notice is recorded,
    in one statement outside any transaction (the fast path's read)."""
    raw, recorded = database.fetch_all(_STATE_AND_NOTICES, subject_id=subject_id)[0]
    return (json_value(raw) if raw is not None else None), bool(recorded)


def _no_notices(read: tuple) -> bool:
    """Whether the fast path answers: with a notice recorded, `reconsent_needed` and the
    newest notice need the view's reads."""
    return not read[1]


def consents_now_answer(read: tuple, subject_id: str, args: dict):
    """The answer of `GET .../consents` without `at`, while no notice is recorded, as the
    view gives it (the fast path's answer)."""
    raw, _recorded = read
    state = ConsentState.from_json(raw) if raw else ConsentState()
    language = pick_language(parse_accept_header(args["Accept-Language"], LanguageAccept))
    answer = ledger.describe_state(subject_id, state, get_policy(), utcnow(),
                                   args["jurisdiction"], language)
    return _state_body({**answer, "reconsent_needed": False, "notice": None, "at": None})


# `GET .../consents`' plain requests (no `at`, no notice recorded), answered without
# Flask's request machinery by the view's own functions (consentry/fastpath.py).
FAST_ROUTES = [FastRoute(
    rule=CONSENTS_RULE, scopes=Consents.get.accepted_scopes,
    fields=frozenset({"jurisdiction"}), required=frozenset(), check=check_consents_args,
    read=_state_and_notices, takes=_no_notices, answer=consents_now_answer,
    headers=("Accept-Language",), response_headers=_labels_language)]


@blp.route("/v1/subjects/<subject:subject_id>/consents/reject-all")
class RejectAll(MethodView):
    @scoped("preferences:write")
    @idempotent
    @reads_header("Accept-Language")
    @blp.arguments(RejectAllSchema())
    @blp.response(200, ConsentWriteResultSchema)
    def post(self, body, subject_id):
        """Reject all: deny every purpose on every channel, in one write and one receipt.

        Each purpose gets a purpose-level denial, which overrides every earlier grant of
        it, on any channel and for any category. The global switches are unchanged.
        Honours `Idempotency-Key`."""
        policy = get_policy()
        state, receipt = ledger.record_choices(
            get_session(), get_keys(), policy, subject_id,
            choices=ledger.reject_all_choices(policy), source=body["source"],
            actor=current_principal().name, jurisdiction=body["jurisdiction"],
            notice_version=body["notice_version"],
            idempotency_key=request.headers.get("Idempotency-Key"), language=_language())
        return _state_response(_noticed(ledger.describe_state(
            subject_id, state, policy, utcnow(), language=_language()), subject_id), receipt)


@blp.route("/v1/subjects/<subject:subject_id>/consents/history")
class ConsentHistory(MethodView):
    @scoped("preferences:read")
    @blp.arguments(PageArgsSchema(), location="query")
    @blp.response(200, HistorySchema)
    def get(self, args, subject_id):
        """The subject's consent events, newest first."""
        return ledger.history(get_session(), subject_id, args["limit"], args["cursor"])


@blp.route("/v1/subjects/<subject:subject_id>/receipts/<receipt_id>")
class ReceiptView(MethodView):
    @scoped("preferences:read")
    @blp.arguments(ReceiptQuerySchema(), location="query")
    @blp.alt_response(200, schema=ReceiptOrKantara, success=True,
                      description="The signed consent record (`Receipt`), or with "
                      "`?format=kantara` its Kantara Consent Receipt v1.1 view "
                      "(`KantaraReceipt`, derived and unsigned); `version` tells which")
    def get(self, args, subject_id, receipt_id):
        """A consent receipt again: an ISO/IEC TS 27560 record in W3C DPV terms, whose
        signature verifies with /.well-known/consentry-keys; `?format=kantara` answers the
        Kantara Consent Receipt v1.1 view of the same record (docs/receipts.md)."""
        jwks = get_keys().jwks() if args["format"] == "kantara" else None
        return json_response(ledger.get_receipt(get_session(), subject_id, receipt_id,
                                                args["format"], jwks))


@blp.route("/v1/subjects/<subject:subject_id>/opt-out")
class OptOut(MethodView):
    @scoped("preferences:write")
    @idempotent
    @reads_header("Sec-GPC")
    @reads_header("Accept-Language")
    @blp.arguments(OptOutSchema())
    @blp.response(200, ConsentWriteResultSchema)
    def post(self, body, subject_id):
        """Global switches: `personalization` (do not personalize me), `sale_sharing`, `all`."""
        policy = get_policy()
        state, receipt, _kept = ledger.set_opt_out(
            get_session(), get_keys(), policy, subject_id, scope=body["scope"], on=True,
            source=body["source"], actor=current_principal().name, gpc=body["gpc"] or _gpc_header(),
            idempotency_key=request.headers.get("Idempotency-Key"), language=_language())
        return _state_response(_noticed(ledger.describe_state(
            subject_id, state, policy, utcnow(), language=_language()), subject_id), receipt)

    @scoped("preferences:write")
    @idempotent
    @reads_header("Sec-GPC")
    @reads_header("Accept-Language")
    @blp.arguments(OptOutQuerySchema(), location="query")
    @blp.response(200, ConsentWriteResultSchema)
    def delete(self, args, subject_id):
        """Undo one opt-out (`?scope=`).

        A request carrying GPC cannot undo the sale/sharing opt-out: the answer's `kept`
        lists it (`{"switch": "sale_sharing_opt_out", "reason": "gpc"}`) and nothing is
        written for it.
        """
        policy = get_policy()
        state, receipt, kept = ledger.set_opt_out(
            get_session(), get_keys(), policy, subject_id, scope=args["scope"], on=False,
            source=args["source"], actor=current_principal().name, gpc=_gpc_header(),
            idempotency_key=request.headers.get("Idempotency-Key"), language=_language())
        return _state_response(_noticed(ledger.describe_state(
            subject_id, state, policy, utcnow(), language=_language()), subject_id),
            receipt, kept=kept)
