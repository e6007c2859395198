"""An independent, simple model of the gate's choice rules, for property tests.

It reads the raw list of choices (never a folded state) and says what the gate must
answer: scanning the choices that concern the question from the newest back, the first
one decides, except that a broader grant does not decide while the narrower choice's
last word is a denial or withdrawal. At the same moment the narrower counts as newer.
Switches and consent age are left out: the table tests in test_precedence.py hold them.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


class Said(NamedTuple):
    """One recorded choice: the scope (category/channel None when broader), when, what."""

    purpose: str
    category: str | None
    channel: str | None
    status: str
    at: datetime


def _deciding(said: list[Said], purpose: str, category: str | None,
              channel: str | None) -> Said | None:
    scopes = {(category, None)} | ({(category, channel)} if channel else set())
    mine = [(s.at, s.channel is not None, i, s) for i, s in enumerate(said)
            if s.purpose == purpose and (s.category, s.channel) in scopes]
    newest_first = [s for *_, s in sorted(mine, key=lambda m: m[:3], reverse=True)]
    for s in newest_first:
        if s.channel is None and s.status == "granted":
            narrow = next((n for n in newest_first if n.channel is not None), None)
            if narrow is not None and narrow.status != "granted":
                return narrow
        return s
    return None


def expected(said: list[Said], policy, jurisdiction: str, purpose: str, category: str,
             channel: str | None) -> tuple[bool, str, datetime | None]:
    """(allowed, reason, since) the gate must answer for `category` of `purpose`."""
    cat = policy.categories[category]
    if purpose in cat.not_for:
        return False, "not_permitted_for_purpose", None
    whole = _deciding(said, purpose, None, channel)
    if whole is not None and whole.status != "granted":
        return False, ("purpose_denied" if whole.status == "denied" else "withdrawn"), whole.at
    own = _deciding(said, purpose, category, channel)
    if own is not None:
        reason = {"granted": "explicit_grant", "denied": "explicit_denial",
                  "withdrawn": "withdrawn"}[own.status]
        return own.status == "granted", reason, own.at
    if cat.sensitivity != "standard":
        return False, "requires_explicit_consent", None
    if whole is not None:
        return True, "explicit_grant", whole.at
    if policy.jurisdictions[jurisdiction].basis[purpose] == "opt_out":
        return True, "default_opt_out_basis", None
    return False, "requires_explicit_consent", None
