"""Google Consent Mode v2: the seven fields a tag manager applies, derived from the gate.

`consent_mode` is pure: each field the policy's `[consent_mode]` table ties to a purpose
(and categories) is "granted" exactly when `consent.gate.evaluate` (or, without
categories, `evaluate_purpose`) allows it; there is no consent rule of its own here.
`subject_consent_mode` loads the state and signs the answer as the gate's tokens are.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from consent.gate import evaluate, evaluate_purpose
from consent.signals import states_for
from consent.state import ConsentState
from consent.token import CONSENT_MODE_TOKEN_TYPE, consent_mode_payload
from consentry.errors import NotFound
from consentry.policy import ALWAYS, CONSENT_MODE_FIELDS, Policy
from consentry.secretstore import SecretStore

GRANTED, DENIED = "granted", "denied"


def consent_mode(state: ConsentState, policy: Policy, channel: str | None, now: datetime,
                 jurisdiction: str | None = None) -> tuple[dict[str, str], str]:
    """Each Consent Mode field "granted" or "denied" for `state`, and the jurisdiction the
    gate applied. Each purpose the table names is evaluated once. The policy must have a
    `[consent_mode]` table."""
    rules = policy.consent_mode or {}
    wanted: dict[str, set[str]] = {}
    whole: set[str] = set()
    for rule in rules.values():
        if rule.fixed is not None:
            continue
        if rule.categories:
            wanted.setdefault(rule.purpose, set()).update(rule.categories)
        else:
            whole.add(rule.purpose)
    allowed: dict[str, set[str]] = {}
    for purpose, categories in wanted.items():
        evaluation = evaluate(state, policy, purpose, channel, sorted(categories), now,
                              jurisdiction)
        allowed[purpose] = set(evaluation.allowed)
    on = {purpose for purpose in whole
          if evaluate_purpose(state, policy, purpose, channel, now, jurisdiction).allowed}
    fields = {}
    for name in CONSENT_MODE_FIELDS:
        rule = rules[name]
        if rule.fixed is not None:
            granted = rule.fixed == ALWAYS
        elif rule.categories:
            granted = allowed[rule.purpose].issuperset(rule.categories)
        else:
            granted = rule.purpose in on
        fields[name] = GRANTED if granted else DENIED
    return fields, policy.jurisdiction(state.jurisdiction or jurisdiction).id


def subject_consent_mode(session: Session, keys: SecretStore, policy: Policy, subject_id: str,
                         channel: str | None, jurisdiction: str | None, now: datetime) -> dict:
    """The subject's Consent Mode answer with its signed token; an unknown subject gets
    the defaults of the jurisdiction (as the gate does). Not found when the policy maps
    no Consent Mode."""
    if policy.consent_mode is None:
        raise NotFound("The policy has no [consent_mode] table, so there is no Consent Mode "
                       "answer.")
    state = states_for(session, [subject_id]).get(subject_id) or ConsentState()
    fields, applied = consent_mode(state, policy, channel, now, jurisdiction)
    token = keys.sign_token(consent_mode_payload(
        subject_id, channel, applied, fields, policy.version, policy.digest,
        int(now.timestamp()), policy.token_max_age_seconds), typ=CONSENT_MODE_TOKEN_TYPE)
    return {"subject_id": subject_id, "channel": channel, "jurisdiction": applied, **fields,
            "policy_version": policy.version, "evaluated_at": now,
            "max_age": policy.token_max_age_seconds, "token": token}
