"""The signal gate's one evaluation function.

Single lookups, batch lookups, tokens, the preference-center matrix, the change feed
and the decision conformance check all call `evaluate`; there is no second copy of
these rules. `evaluate_purpose` answers the purpose's own row of the matrix (a purpose
toggle) with the same switch rule and the same precedence. Pure: state + policy +
question + time in, answer out.

Precedence, first match wins:

1. unknown category → denied `unknown_category` (fail closed); a category the policy
   says is `not_for` the purpose → denied `not_permitted_for_purpose`, whatever was
   granted
2. global switches: "personalization off" denies the `personalization` purpose
   (`personalization_off`); for the jurisdiction's sale/sharing purposes GPC
   (`gpc`) and the sale/sharing opt-out (`sale_sharing_opt_out`) deny
3. purpose-level choice (purpose, or purpose+channel: see "broader and narrower"
   below): denied → `purpose_denied`, withdrawn → `withdrawn`; either beats any
   category grant
4. category choice (purpose+category, or purpose+category+channel: see below):
   granted → `explicit_grant`, denied → `explicit_denial`, withdrawn → `withdrawn`
5. `sensitive` and `special` categories without a category grant →
   `requires_explicit_consent`
6. a purpose-level grant → `explicit_grant`
7. the jurisdiction's default basis: opt-out → allowed `default_opt_out_basis`;
   opt-in → `requires_explicit_consent`

Broader and narrower (rules 3 and 4): a purpose choice covers every channel of the
purpose, a category choice every channel of that category. Between the broader choice
and the narrower one for the asked channel, the newer decides, except that a broader
grant never overrides a narrower denial or withdrawal (consent is never widened by
implication); recorded at the same moment, the narrower decides. So a denial or
withdrawal recorded after a narrower grant overrides it, a narrower grant recorded
after a broader denial is an exception to it, and a choice of one scope replaces the
earlier one of the same scope. The reason code and `since` are those of the choice
that decided.

A grant older than the policy's `consent_max_age_days` counts as absent; if the
answer without it is a denial, the reason is `consent_expired`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from consent.state import Choice, ConsentState
from consentry.policy import Policy

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
    "not_permitted_for_purpose",
)


class Verdict(NamedTuple):
    category: str | None  # None: the purpose's own row (`evaluate_purpose`)
    allowed: bool
    reason: str
    since: datetime | None = None


class Evaluation(NamedTuple):
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


def _standard(policy: Policy) -> dict[str, bool]:
    """Category id → is it `standard`, cached per policy (the hot path asks per call)."""
    cached = _STANDARD_CACHE.get(id(policy))
    if cached is None or cached[0] is not policy:
        cached = (policy, {c.id: c.sensitivity == "standard" for c in policy.categories.values()})
        _STANDARD_CACHE[id(policy)] = cached
    return cached[1]


_STANDARD_CACHE: dict[int, tuple[Policy, dict[str, bool]]] = {}


def _forbidden(policy: Policy, purpose: str) -> frozenset[str]:
    """The categories the policy says are `not_for` `purpose`, cached per policy."""
    cached = _FORBIDDEN_CACHE.get(id(policy))
    if cached is None or cached[0] is not policy:
        forbidden: dict[str, set[str]] = {}
        for c in policy.categories.values():
            for pid in c.not_for:
                forbidden.setdefault(pid, set()).add(c.id)
        cached = (policy, {pid: frozenset(ids) for pid, ids in forbidden.items()})
        _FORBIDDEN_CACHE[id(policy)] = cached
    return cached[1].get(purpose, _NONE)


_FORBIDDEN_CACHE: dict[int, tuple[Policy, dict[str, frozenset[str]]]] = {}
_NONE: frozenset[str] = frozenset()


def _decides(broad: Choice | None, narrow: Choice | None) -> Choice | None:
    """The choice that decides between a broader one and the narrower one for a channel:
    the newer, except that a broader grant never overrides a narrower denial or
    withdrawal; at the same moment, the narrower."""
    if narrow is None:
        return broad
    if (broad is None or broad.since <= narrow.since
            or (broad.status == "granted" and narrow.status != "granted")):
        return narrow
    return broad


def evaluate(state: ConsentState, policy: Policy, purpose: str, channel: str | None,
             categories: Iterable[str] | None, now: datetime,
             jurisdiction: str | None = None) -> Evaluation:
    """Decide, for each category, whether `purpose` on `channel` may use it, and why.

    `categories` None means every category of the policy. `jurisdiction` is used when
    the subject has none recorded. `purpose` must be a policy purpose (callers validate).
    """
    juris = policy.jurisdiction(state.jurisdiction or jurisdiction)
    standard = _standard(policy)
    wanted = standard.keys() if categories is None else dict.fromkeys(categories)
    max_age = (timedelta(days=policy.consent_max_age_days)
               if policy.consent_max_age_days else None)

    def expired(choice: Choice) -> bool:
        return max_age is not None and choice.status == "granted" and now - choice.since > max_age

    forbidden = _forbidden(policy, purpose)

    def refused(cid: str) -> Verdict:  # rule 1, for a category a denial below names
        return Verdict(cid, False, "not_permitted_for_purpose" if cid in forbidden
                       else "unknown_category")

    switch = _switch_verdict(state, purpose, juris.sale_sharing_purposes, juris.gpc)
    if switch is not None:
        return Evaluation(purpose, channel, juris.id, tuple(
            Verdict(cid, False, switch[0], switch[1])
            if cid in standard and cid not in forbidden else refused(cid) for cid in wanted))
    choices = state.choices
    purpose_choice = _purpose_choice(choices, purpose, channel)
    if purpose_choice is not None and purpose_choice.status != "granted":
        reason = "purpose_denied" if purpose_choice.status == "denied" else "withdrawn"
        return Evaluation(purpose, channel, juris.id, tuple(
            Verdict(cid, False, reason, purpose_choice.since)
            if cid in standard and cid not in forbidden else refused(cid) for cid in wanted))
    basis = juris.basis.get(purpose, "opt_in")
    purpose_expired = purpose_choice is not None and expired(purpose_choice)
    verdicts = []
    for cid in wanted:
        is_standard = standard.get(cid)
        if is_standard is None or cid in forbidden:
            verdicts.append(refused(cid))
            continue
        choice = (choices.get((purpose, cid, None)) if channel is None
                  else _decides(choices.get((purpose, cid, None)),
                                choices.get((purpose, cid, channel))))
        saw_expired = False
        if choice is not None and max_age is not None and expired(choice):
            saw_expired, choice = True, None
        if choice is not None:
            status = choice.status
            verdicts.append(Verdict(cid, status == "granted", _CHOICE_REASONS[status],
                                    choice.since))
            continue
        if not is_standard:
            verdict = Verdict(cid, False, "requires_explicit_consent")
        elif purpose_choice is not None and not purpose_expired:
            verdict = Verdict(cid, True, "explicit_grant", purpose_choice.since)
        elif basis == "opt_out":
            verdict = Verdict(cid, True, "default_opt_out_basis")
        else:
            verdict = Verdict(cid, False, "requires_explicit_consent")
        if not verdict.allowed and (saw_expired or (is_standard and purpose_expired)):
            verdict = Verdict(cid, False, "consent_expired")
        verdicts.append(verdict)
    return Evaluation(purpose, channel, juris.id, tuple(verdicts))


def evaluate_purpose(state: ConsentState, policy: Policy, purpose: str, channel: str | None,
                     now: datetime, jurisdiction: str | None = None) -> Verdict:
    """Decide whether `purpose` as a whole is on for this subject, and why: the rules of
    `evaluate` that do not depend on a category (2, 3, 6, 7), for a purpose toggle.

    A purpose-level grant older than `consent_max_age_days` counts as absent, as in
    `evaluate`; if the answer without it is a denial the reason is `consent_expired`.
    """
    juris = policy.jurisdiction(state.jurisdiction or jurisdiction)
    switch = _switch_verdict(state, purpose, juris.sale_sharing_purposes, juris.gpc)
    if switch is not None:
        return Verdict(None, False, switch[0], switch[1])
    choice = _purpose_choice(state.choices, purpose, channel)
    if choice is not None and choice.status != "granted":
        reason = "purpose_denied" if choice.status == "denied" else "withdrawn"
        return Verdict(None, False, reason, choice.since)
    expired = (choice is not None and policy.consent_max_age_days is not None
               and now - choice.since > timedelta(days=policy.consent_max_age_days))
    if choice is not None and not expired:
        return Verdict(None, True, "explicit_grant", choice.since)
    if juris.basis.get(purpose, "opt_in") == "opt_out":
        return Verdict(None, True, "default_opt_out_basis")
    return Verdict(None, False, "consent_expired" if expired else "requires_explicit_consent")


def _purpose_choice(choices, purpose: str, channel: str | None) -> Choice | None:
    """The purpose-level choice that decides for `channel` (rule 3)."""
    broad = choices.get((purpose, None, None))
    if channel is None:
        return broad
    return _decides(broad, choices.get((purpose, None, channel)))


_CHOICE_REASONS = {"granted": "explicit_grant", "denied": "explicit_denial",
                   "withdrawn": "withdrawn"}


def _switch_verdict(state: ConsentState, purpose: str, sale_purposes, gpc_honoured: bool):
    switches = state.switches
    if not switches:
        return None
    if purpose == "personalization" and "personalization_off" in switches:
        return "personalization_off", switches["personalization_off"]
    if purpose in sale_purposes:
        if gpc_honoured and "gpc" in switches:
            return "gpc", switches["gpc"]
        if "sale_sharing_opt_out" in switches:
            return "sale_sharing_opt_out", switches["sale_sharing_opt_out"]
    return None
