"""The signal gate's one evaluation function.

Single lookups, batch lookups, tokens, the preference-center matrix, the change feed
and the decision conformance check all call `evaluate`; there is no second copy of
these rules. Pure: state + policy + question + time in, answer out.

Precedence, first match wins:

1. unknown category → denied `unknown_category` (fail closed)
2. global switches: "personalization off" denies the `personalization` purpose
   (`personalization_off`); for the jurisdiction's sale/sharing purposes GPC
   (`gpc`) and the sale/sharing opt-out (`sale_sharing_opt_out`) deny
3. purpose-level choice (purpose+channel over purpose): denied → `purpose_denied`,
   withdrawn → `withdrawn`; either beats any category grant
4. category choice (purpose+category+channel over purpose+category): granted →
   `explicit_grant`, denied → `explicit_denial`, withdrawn → `withdrawn`
5. `sensitive` and `special` categories without a category grant →
   `requires_explicit_consent`
6. a purpose-level grant → `explicit_grant`
7. the jurisdiction's default basis: opt-out → allowed `default_opt_out_basis`;
   opt-in → `requires_explicit_consent`

A grant older than the policy's `consent_max_age_days` counts as absent; if the
answer without it is a denial, the reason is `consent_expired`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from consent.policy import Policy
from consent.state import Choice, ConsentState

REASONS = (
    "explicit_grant",
    "explicit_denial",
    "withdrawn",
    "default_opt_out_basis",
    "requires_explicit_consent",
    "personalization_off",
    "sale_sharing_opt_out",
    "gpc",
    "purpose_denied",
    "consent_expired",
    "unknown_category",
)


@dataclass(frozen=True)
class Verdict:
    category: str
    allowed: bool
    reason: str
    since: datetime | None = None


@dataclass(frozen=True)
class Evaluation:
    purpose: str
    channel: str | None
    jurisdiction: str
    verdicts: tuple[Verdict, ...]

    @property
    def allowed(self) -> list[str]:
        return [v.category for v in self.verdicts if v.allowed]

    @property
    def denied(self) -> list[dict]:
        return [{"category": v.category, "reason": v.reason}
                for v in self.verdicts if not v.allowed]


def evaluate(state: ConsentState, policy: Policy, purpose: str, channel: str | None,
             categories: Iterable[str] | None, now: datetime,
             jurisdiction: str | None = None) -> Evaluation:
    """Decide, for each category, whether `purpose` on `channel` may use it, and why.

    `categories` None means every category of the policy. `jurisdiction` is used when
    the subject has none recorded. `purpose` must be a policy purpose (callers validate).
    """
    juris = policy.jurisdiction(state.jurisdiction or jurisdiction)
    wanted = list(policy.categories) if categories is None else list(dict.fromkeys(categories))
    max_age = (timedelta(days=policy.consent_max_age_days)
               if policy.consent_max_age_days else None)

    def expired(choice: Choice) -> bool:
        return max_age is not None and choice.status == "granted" and now - choice.since > max_age

    switch = _switch_verdict(state, purpose, juris.sale_sharing_purposes, juris.gpc)
    purpose_choice = _most_specific(state, [(purpose, None, channel), (purpose, None, None)])
    basis = juris.basis.get(purpose, "opt_in")
    verdicts = []
    for cid in wanted:
        category = policy.categories.get(cid)
        if category is None:
            verdicts.append(Verdict(cid, False, "unknown_category"))
            continue
        if switch is not None:
            verdicts.append(Verdict(cid, False, switch[0], switch[1]))
            continue
        if purpose_choice is not None and purpose_choice.status in ("denied", "withdrawn"):
            reason = "purpose_denied" if purpose_choice.status == "denied" else "withdrawn"
            verdicts.append(Verdict(cid, False, reason, purpose_choice.since))
            continue
        saw_expired = False
        choice = _most_specific(state, [(purpose, cid, channel), (purpose, cid, None)])
        if choice is not None and expired(choice):
            saw_expired, choice = True, None
        if choice is not None:
            reason = {"granted": "explicit_grant", "denied": "explicit_denial",
                      "withdrawn": "withdrawn"}[choice.status]
            verdicts.append(Verdict(cid, choice.status == "granted", reason, choice.since))
            continue
        verdict = _without_category_choice(cid, category.sensitivity, purpose_choice, basis,
                                           expired)
        purpose_grant_expired = (category.sensitivity == "standard"
                                 and purpose_choice is not None and expired(purpose_choice))
        if saw_expired or purpose_grant_expired:
            if not verdict.allowed:
                verdict = Verdict(cid, False, "consent_expired")
        verdicts.append(verdict)
    return Evaluation(purpose, channel, juris.id, tuple(verdicts))


def _switch_verdict(state: ConsentState, purpose: str, sale_purposes, gpc_honoured: bool):
    if purpose == "personalization" and state.switch_on("personalization_off"):
        return "personalization_off", state.switches["personalization_off"]
    if purpose in sale_purposes:
        if gpc_honoured and state.switch_on("gpc"):
            return "gpc", state.switches["gpc"]
        if state.switch_on("sale_sharing_opt_out"):
            return "sale_sharing_opt_out", state.switches["sale_sharing_opt_out"]
    return None


def _most_specific(state: ConsentState, keys) -> Choice | None:
    """The first of `keys` (most specific first) the subject made a choice for."""
    for key in keys:
        choice = state.choices.get(key)
        if choice is not None:
            return choice
    return None


def _without_category_choice(cid: str, sensitivity: str, purpose_choice: Choice | None,
                             basis: str, expired) -> Verdict:
    if sensitivity != "standard":
        return Verdict(cid, False, "requires_explicit_consent")
    if purpose_choice is not None and purpose_choice.status == "granted" \
            and not expired(purpose_choice):
        return Verdict(cid, True, "explicit_grant", purpose_choice.since)
    if basis == "opt_out":
        return Verdict(cid, True, "default_opt_out_basis")
    return Verdict(cid, False, "requires_explicit_consent")
