"""The signal gate's service: single and batch lookups, tokens and the change feed.

Every answer comes from `consent.gate.evaluate`; this module only loads states
(one query for any number of subjects) and shapes the answers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from consent.gate import Evaluation, evaluate
from consent.models import SubjectChange, SubjectState
from consent.state import ConsentState
from consent.token import token_payload
from consentry.db import Database, json_value
from consentry.pagination import decode_cursor, encode_cursor
from consentry.policy import Policy, unknown_error
from consentry.secretstore import SecretStore

MAX_BATCH_SUBJECTS = 1000


def raw_states_for(session: Session, subject_ids: list[str]) -> dict[str, dict]:
    """Load the stored states of many subjects in one round trip; unknown ones are absent."""
    if not subject_ids:
        return {}
    where = (SubjectState.subject_id == subject_ids[0] if len(subject_ids) == 1
             else SubjectState.subject_id.in_(subject_ids))
    # A plain Core read on the session's connection: the ORM's execution layer would
    # cost more than the query on this path.
    table = SubjectState.__table__
    rows = session.connection().execute(select(table.c.subject_id, table.c.state).where(where))
    return {sid: state for sid, state in rows}


_STATE_OF = select(SubjectState.__table__.c.state).where(
    SubjectState.__table__.c.subject_id == bindparam("subject_id"))


def raw_state_now(database: Database, subject_id: str) -> dict | None:
    """One subject's stored state, read on its own outside any request transaction (the
    gate's fast path); None for an unknown subject."""
    rows = database.fetch_all(_STATE_OF, subject_id=subject_id)
    return json_value(rows[0][0]) if rows else None


def states_for(session: Session, subject_ids: list[str]) -> dict[str, ConsentState]:
    """Load the states of many subjects in one round trip; unknown ones are absent."""
    return {sid: ConsentState.from_json(raw)
            for sid, raw in raw_states_for(session, subject_ids).items()}


def allowed_signals(raw_state: dict | None, keys: SecretStore, policy: Policy,
                    subject_id: str, purpose: str,
                    channel: str | None, categories: list[str] | None,
                    jurisdiction: str | None, now: datetime) -> tuple[Evaluation, str]:
    """Evaluate one subject's stored state (`raw_states_for`, `raw_state_now`; None for an
    unknown subject); return the evaluation and its signed token."""
    state = ConsentState.from_json(raw_state) if raw_state else ConsentState()
    evaluation = evaluate(state, policy, purpose, channel, categories, now, jurisdiction)
    return evaluation, sign_token(keys, subject_id, evaluation, policy, now)


def sign_token(keys: SecretStore, subject_id: str, evaluation: Evaluation, policy: Policy,
               now: datetime) -> str:
    """The signed consent token of one evaluation."""
    payload = token_payload(subject_id, evaluation, policy.version, policy.digest,
                            int(now.timestamp()), policy.token_max_age_seconds,
                            policy.signal_limits(evaluation.allowed))
    return keys.sign_token(payload)


def state_shape(raw: dict | None) -> tuple:
    """What an answer depends on when no grant can expire: jurisdiction, each choice's
    key and status, and the switches that are on — not when each was made."""
    if not raw:
        return ()
    return (raw.get("jurisdiction"), tuple(tuple(c[:4]) for c in raw.get("choices", ())),
            tuple(raw.get("switches", ())))


def check_categories(policy: Policy, categories: list[str] | None) -> None:
    """A batch names at most the policy's categories, each one it knows: else a 422 naming
    them. (A batch answers for every subject, so an unknown category would come back as a
    denial a thousand times over.)"""
    if categories is None:
        return
    most = len(policy.categories)
    fields = {}
    if len(categories) > most:
        fields["categories"] = [f"At most {most} categories (the policy has {most})."]
    for i, category in enumerate(categories[:most]):
        if category not in policy.categories:
            fields[f"categories.{i}"] = [f"Unknown category {category!r}."]
    if fields:
        raise unknown_error(fields)


def check_batch(session: Session, policy: Policy, subject_ids: list[str], purpose: str,
                channel: str | None, categories: list[str] | None,
                jurisdiction: str | None, now: datetime) -> dict[str, dict]:
    """Answer up to MAX_BATCH_SUBJECTS subjects with one query: {subject: {allowed, denied,
    jurisdiction}}.

    `categories` must pass `check_categories` (None: every category of the policy).
    Subjects whose states have the same shape get the same answer, so each shape is
    evaluated once (exact: without `consent_max_age_days` the time a choice was made
    cannot change an answer; with it every subject is evaluated on its own).
    """
    check_categories(policy, categories)
    unique = list(dict.fromkeys(subject_ids))
    raw_states = raw_states_for(session, unique)
    memo: dict[tuple, dict] = {}
    by_shape = policy.consent_max_age_days is None
    results = {}
    for sid in unique:
        raw = raw_states.get(sid)
        key = state_shape(raw) if by_shape else None
        answer = memo.get(key) if by_shape else None
        if answer is None:
            evaluation = evaluate(ConsentState.from_json(raw), policy, purpose, channel,
                                  categories, now, jurisdiction)
            answer = {"allowed": evaluation.allowed, "denied": evaluation.denied,
                      "jurisdiction": evaluation.jurisdiction}
            if by_shape:
                memo[key] = answer
        results[sid] = answer
    return results


def changes(session: Session, after: str | None, limit: int) -> dict:
    """Subjects whose state changed after the cursor, in commit order.

    `after=head` starts at the newest change (a fresh cache needs no history). `next`
    is always the cursor to ask with next, also when the page is empty.
    """
    if after == "head":
        last = session.scalar(select(func.max(SubjectChange.seq))) or 0
        return {"changes": [], "next": encode_cursor({"seq": last})}
    position = decode_cursor(after, "seq", field="after", types={"seq": int})
    seq = int(position["seq"]) if position else 0
    rows = session.scalars(select(SubjectChange).where(SubjectChange.seq > seq)
                           .order_by(SubjectChange.seq).limit(limit)).all()
    if rows:
        seq = rows[-1].seq
    return {"changes": [{"subject_id": r.subject_id, "changed_at": r.changed_at, "seq": r.seq}
                        for r in rows],
            "next": encode_cursor({"seq": seq})}
