"""The consent ledger: record choices and switches, read state now and at any past moment."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from audit.service import append_entry, note_subject_key, on_sequenced, subject_key_columns
from consent.gate import evaluate, evaluate_purpose
from consent.iab.mapping import standard_signals
from consent.models import ConsentEvent, Receipt, StateSnapshot, SubjectChange, SubjectState
from consent.notices import RECORDED as notices_recorded
from consent.notices import find_version, note_recorded, resolve_notice_version
from consent.receipts import kantara_view, receipt_record
from consent.state import ConsentState, Event, apply, fold
from consentry.clock import rfc3339, utcnow
from consentry.errors import Invalid, NotFound
from consentry.pagination import decode_cursor, encode_cursor
from consentry.policy import BASE_LANGUAGE, Policy, unknown_error
from consentry.secretstore import SecretStore
from webhooks import service as outbox

MAX_CHOICES = 100
# A TC string with a full bitfield for every vendor id runs to about 11,000 characters.
MAX_IAB_STRING = 32_768
SNAPSHOT_EVERY = 50  # writes of one subject between two snapshots of its state
CHOICE_STATUSES = ("granted", "denied", "withdrawn")
OPT_OUT_SCOPES = {"personalization": ("personalization_off",),
                  "sale_sharing": ("sale_sharing_opt_out",),
                  "all": ("personalization_off", "sale_sharing_opt_out")}
SWITCHES = OPT_OUT_SCOPES["all"]


@dataclass(frozen=True)
class ChoiceInput:
    purpose: str
    status: str
    category: str | None = None
    channel: str | None = None


def reject_all_choices(policy: Policy) -> list[ChoiceInput]:
    """"Reject all": a denial of every purpose. A purpose-level choice covers every channel
    and, being the newest, overrides every narrower grant (consent/gate.py)."""
    return [ChoiceInput(pid, "denied") for pid in policy.purposes]


def allow_all_choices(policy: Policy) -> list[ChoiceInput]:
    """"Allow all": a grant of every purpose and of every `standard` category of it (not
    one the policy says is `not_for` it), so it also undoes an earlier "reject all".
    Sensitive and special categories keep their own state (a purpose grant never covers
    them), and so do denials narrowed to a channel (a broader grant never widens them)."""
    return [choice for pid in policy.purposes for choice in (
        ChoiceInput(pid, "granted"),
        *(ChoiceInput(pid, "granted", cid) for cid, c in policy.categories.items()
          if c.sensitivity == "standard" and pid not in c.not_for))]


def gpc_signal(values: list[str]) -> bool:
    """Whether a request's `Sec-GPC` header values carry the signal: any `1` counts, also
    among repeated headers or a comma-folded list (`0, 1`)."""
    return any(part.strip() == "1" for value in values for part in value.split(","))


def check_choices(policy: Policy, choices: list[ChoiceInput], jurisdiction: str | None,
                  gpc: bool = False) -> None:
    """Reject unknown purposes, categories, channels and jurisdictions, naming each, and a
    write with no choices unless it carries GPC (then the signal is recorded alone)."""
    fields = policy.unknown_ids(jurisdiction=jurisdiction)
    if not choices and not gpc:
        fields["choices"] = ["At least one choice, unless the request carries GPC "
                             "(Sec-GPC: 1 or \"gpc\": true), a TC string or a GPP string: "
                             "that is then recorded alone."]
    if len(choices) > MAX_CHOICES:
        fields["choices"] = [f"At most {MAX_CHOICES} choices a request."]
    for i, choice in enumerate(choices[:MAX_CHOICES]):
        fields.update(policy.unknown_ids(f"choices.{i}.", purpose=choice.purpose,
                                         category=choice.category, channel=choice.channel))
    if fields:
        raise unknown_error(fields)


def protect_evidence(keys: SecretStore, evidence: dict | None) -> dict | None:
    """Keep the user agent; keep the IP only truncated (/24, /48) and keyed-hashed."""
    if not evidence:
        return None
    kept: dict = {}
    if evidence.get("user_agent"):
        kept["user_agent"] = str(evidence["user_agent"])[:512]
    ip = evidence.get("ip")
    if ip:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError as exc:
            raise Invalid("evidence.ip is not an IP address.",
                          fields={"evidence.ip": [f"Not an IP address: {str(ip)[:60]!r}."]}
                          ) from exc
        prefix = 24 if address.version == 4 else 48
        network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
        kept["ip_prefix"] = str(network)
        kept["ip_hash"] = keys.keyed_hash("ip", str(address))
    return kept or None


# The write path's statements, built once (building and cache-keying a statement costs
# more than running it on SQLite: bench/profiles/consent_write_before.txt).
# The subject's state and version (None for a subject never seen) and, in the same
# statement, whether any notice is recorded (the answer's notice status needs to know)
# and the subject's audit key row (sealing the evidence needs it).
_STATE_OF = select(*(select(column).where(SubjectState.subject_id == bindparam("sid"))
                     .scalar_subquery().label(column.key)
                     for column in (SubjectState.state, SubjectState.version,
                                    SubjectState.updated_at)),
                   notices_recorded.label("notices_recorded"),
                   outbox.SUBSCRIBED.label("webhooks_subscribed"),
                   *subject_key_columns(bindparam("ref")))
_NEW_EVENTS = insert(ConsentEvent)
# A first write inserts the subject's row unless a concurrent first write did (then it
# folds again): ON CONFLICT DO NOTHING, so no savepoint is needed to survive the clash.
_NEW_STATE = {dialect: make(SubjectState).on_conflict_do_nothing(
    index_elements=[SubjectState.subject_id]).returning(SubjectState.version)
    for dialect, make in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))}
# Compare and set: the update lands only on the version the new state was folded from.
_SET_STATE = (update(SubjectState).where(SubjectState.subject_id == bindparam("sid"),
                                         SubjectState.version == bindparam("b_was"))
              .values(state=bindparam("b_state"), version=bindparam("b_version"),
                      updated_at=bindparam("b_at")))
_NEW_CHANGE = insert(SubjectChange)
_LAST_EVENT = (select(func.max(ConsentEvent.id))
               .where(ConsentEvent.subject_id == bindparam("sid")))
_NEW_SNAPSHOT = insert(StateSnapshot)
_NEW_RECEIPT = insert(Receipt)
EVENT_DEFAULTS = {"purpose": None, "category": None, "channel": None, "switch": None}
# How often a write folds again because another write of the same subject committed
# between its read and its update (READ COMMITTED; SERIALIZABLE retries the request).
MAX_FOLDS = 50


@on_sequenced
def _feed_changes(conn: Connection, sequenced: list[dict]) -> None:
    """The change feed: a row per sequenced consent write that changed its subject's
    state, with the entry's seq, written in the sequencer's transaction (so in seq
    order, a batch at a time)."""
    rows = [{"seq": e["seq"], "subject_id": e["changed_subject"], "changed_at": e["ts"]}
            for e in sequenced if e["changed_subject"] is not None]
    if rows:
        conn.execute(_NEW_CHANGE, rows)


def _to_event(row: ConsentEvent) -> Event:
    # The fold dates a choice from when it was made: occurred_at (received_at for every
    # live write, the record's own time for an imported one).
    return Event(kind=row.kind, received_at=row.occurred_at, jurisdiction=row.jurisdiction,
                 purpose=row.purpose, category=row.category, channel=row.channel,
                 status=row.status, switch=row.switch, source=row.source)


def load_state(session: Session, subject_id: str) -> ConsentState | None:
    """The subject's current state, or None for a subject never seen."""
    row = session.get(SubjectState, subject_id)
    return ConsentState.from_json(row.state) if row else None


def replay_state(session: Session, subject_id: str, at: datetime | None = None) -> ConsentState:
    """Fold the subject's events made up to `at` (inclusive), in (occurred_at, id) order,
    into a state, starting from the latest snapshot taken at or before `at`, so at most
    SNAPSHOT_EVERY writes are read (an import of earlier records may add more)."""
    start = select(StateSnapshot).where(StateSnapshot.subject_id == subject_id)
    if at is not None:
        start = start.where(StateSnapshot.taken_at <= at)
    snapshot = session.scalars(start.order_by(StateSnapshot.taken_at.desc(),
                                              StateSnapshot.event_id.desc()).limit(1)).first()
    query = select(ConsentEvent).where(ConsentEvent.subject_id == subject_id)
    if snapshot is not None:
        query = query.where(after_position(snapshot.taken_at, snapshot.event_id))
    if at is not None:
        query = query.where(ConsentEvent.occurred_at <= at)
    initial = ConsentState.from_json(snapshot.state) if snapshot is not None else None
    return fold((_to_event(r) for r in session.scalars(
        query.order_by(ConsentEvent.occurred_at, ConsentEvent.id))), initial)


def after_position(occurred_at: datetime, event_id: int):
    """Events that fold after the position (occurred_at, id)."""
    return (ConsentEvent.occurred_at > occurred_at) | (
        (ConsentEvent.occurred_at == occurred_at) & (ConsentEvent.id > event_id))


def _write(session: Session, keys: SecretStore, policy: Policy, subject_id: str,
           events: list[dict], *, actor: str, action: str, source: str,
           jurisdiction: str | None, notice_version: str | None, evidence: dict | None,
           idempotency_key: str | None, receipt_choices: list[dict],
           kept: list[str] | None = None,
           language: str = BASE_LANGUAGE,
           receipt_extra: dict | None = None) -> tuple[ConsentState, dict]:
    """Append events, the audit entry, the new state, the change and the receipt together.

    `kept`: switches a request asked to undo but left on (audited with the events).
    `receipt_extra`: more the receipt keeps (the standard strings a write carried)."""
    receipt_id = str(uuid.uuid4())
    for event in events:
        event["event_id"] = str(uuid.uuid4())
    ref = keys.subject_ref(subject_id)
    now = utcnow()
    # A write that names its jurisdiction makes the state's jurisdiction (the one thing
    # of the state a receipt reads) unless its events fold in before later ones: the
    # receipt is then built and signed before the first statement, which takes SQLite's
    # write lock, and is used if the fold below confirms it (else built again there).
    early = (_sign_receipt(session, keys, policy, subject_id, receipt_id, now,
                           ConsentState(jurisdiction=jurisdiction), source, notice_version,
                           receipt_choices, events, language, receipt_extra)
             if events and jurisdiction is not None else None)
    conn = session.connection()  # Core on the connection: the hot path
    refold = False
    for attempt in range(MAX_FOLDS):
        if attempt:
            now = utcnow()
        stored = conn.execute(_STATE_OF, {"sid": subject_id, "ref": ref}).one()
        note_recorded(session, stored.notices_recorded)
        outbox.note_subscribed(session, stored.webhooks_subscribed)
        note_subject_key(session, ref, stored.subject_key_row, stored.subject_key)
        if stored.version is None:
            stored = None
        state, rows, new_state = _fold_write(stored, events, now, subject_id=subject_id,
                                             jurisdiction=jurisdiction,
                                             notice_version=notice_version,
                                             evidence=evidence, receipt_id=receipt_id,
                                             idempotency_key=idempotency_key, actor=actor,
                                             source=source)
        if not rows:  # a request that changed nothing is audited and receipted, no more
            break
        # Events dated before the subject's latest (a TC string's, by its LastUpdated)
        # fold into their place: the state is folded again once they are in.
        earliest = min(r["occurred_at"] for r in rows)
        refold = stored is not None and stored.updated_at is not None and \
            earliest < stored.updated_at
        # The subject's row is written first, so its lock (held to the commit) orders
        # the writes of one subject: their events, state and feed rows agree. Nothing
        # else is locked: writes of different subjects never wait for each other.
        latest = max(r["occurred_at"] for r in rows)
        if stored is not None and stored.updated_at is not None:
            latest = max(latest, stored.updated_at)
        if _store_state(session, conn, subject_id, stored, new_state, latest):
            break
    else:
        raise RuntimeError(f"subject state kept changing under {MAX_FOLDS} folds")
    changed = bool(rows) and (stored is None or stored.state != new_state)
    append_entry(
        session, keys, action, actor=actor, subject_id=subject_id, ts=now,
        changed_subject=subject_id if changed else None,
        details={"source": source, "jurisdiction": jurisdiction, "receipt_id": receipt_id,
                 "notice_version": notice_version, "policy_version": policy.version,
                 "events": [{k: e.get(k) for k in ("event_id", "purpose", "category",
                                                   "channel", "switch", "status")}
                            for e in events],
                 **({"kept": kept} if kept else {})},
        personal={"evidence": evidence} if evidence else None)
    if rows:
        conn.execute(_NEW_EVENTS, rows)
        if refold:  # as the import does: later snapshots no longer hold; fold anew
            conn.execute(delete(StateSnapshot).where(StateSnapshot.subject_id == subject_id,
                                                     StateSnapshot.taken_at > earliest))
            state = replay_state(session, subject_id)
            new_state = state.to_json()
            conn.execute(update(SubjectState).where(SubjectState.subject_id == subject_id)
                         .values(state=new_state))
        version = 1 if stored is None else stored.version + 1
        if version % SNAPSHOT_EVERY == 0:  # one write in SNAPSHOT_EVERY pays for a snapshot
            last_event = conn.execute(_LAST_EVENT, {"sid": subject_id}).scalar_one()
            conn.execute(_NEW_SNAPSHOT, [{"subject_id": subject_id, "event_id": last_event,
                                          "taken_at": now, "state": new_state}])
    if early is None or attempt or refold or state.jurisdiction != jurisdiction:
        early = _sign_receipt(session, keys, policy, subject_id, receipt_id, now, state,
                              source, notice_version, receipt_choices, rows, language,
                              receipt_extra)
    body, signature = early
    conn.execute(_NEW_RECEIPT, [{"receipt_id": receipt_id, "subject_id": subject_id,
                                 "issued_at": now, "body": body, "signature": signature}])
    if changed:
        _notify(session, policy, subject_id, stored, state, events, source, jurisdiction, now)
    return state, {**body, "signature": signature}


def _notify(session: Session, policy: Policy, subject_id: str, stored,
            state: ConsentState, events: list[dict], source: str, jurisdiction: str | None,
            now: datetime) -> None:
    """The outbox events of a write that changed the subject's state (`stored`: the row it
    was folded from, None for a new subject), in its transaction:
    `consent.changed` (each recipient gets the state of its own purposes and categories,
    as this write left it) and, when the write opted the subject out of sale/sharing,
    `sale_sharing.opted_out` to the recipients it is a sale or share to."""
    juris = state.jurisdiction or jurisdiction

    def purposes_for(recipient):
        purposes = recipient.purposes if recipient is not None else tuple(policy.purposes)
        categories = (list(recipient.categories) if recipient is not None and
                      recipient.categories else None)
        return {"subject_id": subject_id, "purposes": [{
            "purpose": p,
            "allowed": evaluate_purpose(state, policy, p, None, now, juris).allowed,
            "categories": [{"category": v.category, "allowed": v.allowed} for v in evaluate(
                state, policy, p, None, categories, now, juris).verdicts]}
            for p in purposes if p in policy.purposes]}

    outbox.emit(session, policy, outbox.CONSENT_CHANGED, subject_id, purposes_for, now=now)
    if state.switch_on("sale_sharing_opt_out") and not (
            stored is not None and
            ConsentState.from_json(stored.state).switch_on("sale_sharing_opt_out")):
        via = "gpc" if any(e.get("source") == "gpc" for e in events) else source
        told = [r for r in policy.recipients if r.sale_sharing]
        outbox.emit(session, policy, outbox.SALE_SHARING_OPTED_OUT, subject_id,
                    lambda r: None if r is not None and not r.sale_sharing else {
                        "subject_id": subject_id, "source": via,
                        "opted_out_at": rfc3339(now)}, notify=told, now=now)


def _fold_write(stored, events: list[dict], now: datetime, **common):
    """The event rows of a write and the state they make from `stored`: (state, rows,
    the state's JSON or None when there are no rows)."""
    state = ConsentState.from_json(stored.state) if stored else ConsentState()
    common["received_at"] = common["occurred_at"] = now  # an event may bring its own time
    rows = [{**common, **EVENT_DEFAULTS, **event} for event in events]
    jurisdiction = common["jurisdiction"]
    for row in rows:
        state = apply(state, Event(kind=row["kind"], received_at=row["occurred_at"],
                                   jurisdiction=jurisdiction,
                                   purpose=row["purpose"], category=row["category"],
                                   channel=row["channel"], status=row["status"],
                                   switch=row["switch"], source=row["source"]))
    return state, rows, state.to_json() if rows else None


def _store_state(session: Session, conn: Connection, subject_id: str, stored,
                 new_state: dict, now: datetime) -> bool:
    """Write the subject's new state if nobody did since `stored` was read; False if
    somebody did (fold again). A first write inserts the row unless it exists by then,
    so a concurrent first write of the same subject only sends this one round again."""
    if stored is None:
        return conn.execute(_NEW_STATE[conn.dialect.name], {
            "subject_id": subject_id, "state": new_state, "version": 1,
            "updated_at": now}).first() is not None  # a row comes back only if inserted
    return conn.execute(_SET_STATE, {"sid": subject_id, "b_was": stored.version,
                                     "b_state": new_state, "b_version": stored.version + 1,
                                     "b_at": now}).rowcount == 1


def notice_seen(session: Session, policy: Policy, notice_version: str | None) -> dict:
    """The notice a person saw, as a receipt names it: id, version, URL and sha256.

    The one place a receipt learns about notices: a recorded version (PUT
    /v1/notices/{notice_id}) gives all four; a version named while no notice is recorded
    is kept as sent, with the other three unknown."""
    row = find_version(session, policy, notice_version) if notice_version else None
    if row is None:
        return {"notice_id": None, "version": notice_version, "url": None, "sha256": None}
    return {"notice_id": row.notice_id, "version": row.version, "url": row.url,
            "sha256": row.sha256}


def _sign_receipt(session, keys: SecretStore, policy: Policy, subject_id, receipt_id, now,
                  state, source, notice_version, receipt_choices, rows,
                  language: str = BASE_LANGUAGE, extra: dict | None = None) -> tuple[dict, dict]:
    """A write's receipt body and its signature (`rows`: the events, with their ids)."""
    body = receipt_body(session, policy, subject_id, receipt_id, now, state, source,
                        notice_version, receipt_choices, rows, language, extra)
    return body, keys.sign(body)


def receipt_body(session: Session, policy: Policy, subject_id, receipt_id, now, state, source,
                 notice_version, receipt_choices, rows, language: str = BASE_LANGUAGE,
                 extra: dict | None = None, memo: dict | None = None) -> dict:
    """A receipt's body, to be signed: the ISO/IEC TS 27560 record of the choices shown,
    each with its event's id, and `extra` (the standard strings a write carried).

    `memo` (a dict the caller keeps for one transaction) spares many receipts of one
    moment looking up the same notice and building the same policy parts again."""
    if memo is None:
        notice = notice_seen(session, policy, notice_version)
    else:
        key = ("notice", notice_version)
        if key not in memo:
            memo[key] = notice_seen(session, policy, notice_version)
        notice = memo[key]
    body = receipt_record(
        policy, receipt_id=receipt_id, issued_at=now, subject_id=subject_id,
        jurisdiction=policy.jurisdiction(state.jurisdiction), source=source,
        language=language, notice=notice,
        choices=[{**c, "event_id": r["event_id"]}
                 for c, r in zip(receipt_choices, rows, strict=True)], memo=memo)
    body.update(extra or {})
    return body


def record_choices(session: Session, keys: SecretStore, policy: Policy, subject_id: str, *,
                   choices: list[ChoiceInput], source: str, actor: str,
                   jurisdiction: str | None = None, notice_version: str | None = None,
                   evidence: dict | None = None, gpc: bool = False,
                   idempotency_key: str | None = None,
                   switches: dict[str, bool] | None = None, language: str = BASE_LANGUAGE,
                   tc_string: str | None = None, gpp_string: str | None = None):
    """Record a preference-center write: each choice an event; GPC as a sale/sharing opt-out.

    `switches` (switch name → on) sets or undoes global switches in the same write and
    receipt, as a preference page's form does. As in `set_opt_out`, a write carrying
    GPC cannot undo the sale/sharing opt-out: that switch is kept (and audited as kept).
    `notice_version` must name a recorded notice version once any is recorded
    (`notices.resolve_notice_version`); it is stored as "<notice_id>@<version>".
    `tc_string` and `gpp_string` (IAB TCF and GPP) become events through the policy's
    `[tcf]` and `[gpp]` tables (sources `tcf` and `gpp`), recorded before the choices so
    an explicit choice in the same write has the last word; a GPP GPC subsection counts
    as GPC. A malformed string is a 422 and nothing is recorded.
    """
    switches = switches or {}
    unknown = sorted(set(switches) - set(SWITCHES))
    if unknown:
        raise Invalid("Unknown switch.", fields={"switches": [f"Unknown switch {unknown[0]!r}."]})
    signals = standard_signals(policy, tc_string, gpp_string, now=utcnow())
    gpc = gpc or signals.gpc
    check_choices(policy, choices, jurisdiction,
                  gpc or bool(switches) or tc_string is not None or gpp_string is not None)
    notice_version = resolve_notice_version(session, policy, notice_version)
    protected = protect_evidence(keys, evidence)
    events = [{**e, "evidence": {**(protected or {}), **e["evidence"]}} for e in signals.events]
    shown = list(signals.shown)
    events += [{"kind": "choice", "purpose": c.purpose, "category": c.category,
                "channel": c.channel, "status": c.status} for c in choices]
    shown += [{"purpose": c.purpose, "category": c.category, "channel": c.channel,
               "status": c.status} for c in choices]
    kept = [s for s, on in switches.items() if gpc and not on and s == "sale_sharing_opt_out"]
    for switch, on in switches.items():
        if switch not in kept:
            status = "on" if on else "off"
            events.append({"kind": "switch", "switch": switch, "status": status})
            shown.append({"switch": switch, "status": status})
    if gpc:
        events.append({"kind": "switch", "switch": "sale_sharing_opt_out", "status": "on",
                       "source": "gpc"})
        shown.append({"switch": "sale_sharing_opt_out", "status": "on", "source": "gpc"})
    return _write(session, keys, policy, subject_id, events, actor=actor,
                  action="consent.recorded",
                  source=source, jurisdiction=jurisdiction, notice_version=notice_version,
                  evidence=protected, idempotency_key=idempotency_key, receipt_choices=shown,
                  kept=kept, language=language, receipt_extra=signals.receipt)


def set_opt_out(session: Session, keys: SecretStore, policy: Policy, subject_id: str, *,
                scope: str, on: bool, source: str, actor: str, gpc: bool = False,
                idempotency_key: str | None = None, language: str = BASE_LANGUAGE):
    """Turn the global switches of `scope` (one of OPT_OUT_SCOPES) on (opt out) or off.

    A request carrying GPC records the signal as a sale/sharing opt-out (source `gpc`),
    as every consent write does, and so cannot undo that opt-out: on an undo the switch
    is kept, no event is written for it (nor for the signal, when it stands already),
    and the audit action is `consent.opt_out_kept` when nothing at all was undone.
    Return (state, receipt, kept): `kept` names each switch the undo left on, and why.
    """
    status = "on" if on else "off"
    switches = OPT_OUT_SCOPES[scope]
    kept = ["sale_sharing_opt_out"] if gpc and not on and "sale_sharing_opt_out" in switches \
        else []
    events = [{"kind": "switch", "switch": s, "status": status}
              for s in switches if s not in kept]
    shown = [{"switch": s, "status": status} for s in switches if s not in kept]
    current = load_state(session, subject_id) if kept else None
    if gpc and not (current is not None and current.switch_on("gpc")):
        events.append({"kind": "switch", "switch": "sale_sharing_opt_out", "status": "on",
                       "source": "gpc"})
        shown.append({"switch": "sale_sharing_opt_out", "status": "on", "source": "gpc"})
    undone = [e for e in events if e["status"] == "off"]
    action = ("consent.opt_out" if on else
              "consent.opt_out_undone" if undone else "consent.opt_out_kept")
    state, receipt = _write(session, keys, policy, subject_id, events, actor=actor,
                            action=action, source=source, jurisdiction=None,
                            notice_version=None, evidence=None,
                            idempotency_key=idempotency_key, receipt_choices=shown,
                            kept=kept, language=language)
    return state, receipt, [{"switch": s, "reason": "gpc"} for s in kept]


def consent_entries(state: ConsentState, policy: Policy, now: datetime,
                    language: str = BASE_LANGUAGE) -> list[dict]:
    """Every purpose's own row (`category` null), then its categories (× channel where the
    subject chose per channel), evaluated, with labels in `language`."""
    channels_by_purpose: dict[str, set[str]] = {}
    for purpose, _category, channel in state.choices:
        if channel is not None:
            channels_by_purpose.setdefault(purpose, set()).add(channel)
    category_labels = {c.id: c.label_in(language) for c in policy.categories.values()}
    entries = []
    for purpose in policy.purposes.values():
        purpose_label = purpose.label_in(language)
        for channel in [None, *sorted(channels_by_purpose.get(purpose.id, ()))]:
            own = evaluate_purpose(state, policy, purpose.id, channel, now)
            entries.append({"purpose": purpose.id, "category": None, "channel": channel,
                            "allowed": own.allowed, "reason": own.reason, "since": own.since,
                            "purpose_label": purpose_label, "category_label": None})
            evaluation = evaluate(state, policy, purpose.id, channel, None, now)
            for verdict in evaluation.verdicts:
                entries.append({"purpose": purpose.id, "category": verdict.category,
                                "channel": channel, "allowed": verdict.allowed,
                                "reason": verdict.reason, "since": verdict.since,
                                "purpose_label": purpose_label,
                                "category_label": category_labels[verdict.category]})
    return entries


def describe_state(subject_id: str, state: ConsentState, policy: Policy, now: datetime,
                   jurisdiction: str | None = None, language: str = BASE_LANGUAGE) -> dict:
    """The GET /consents answer for `state`, labels in `language`."""
    juris = policy.jurisdiction(state.jurisdiction or jurisdiction)
    effective = state if state.jurisdiction else replace(state, jurisdiction=juris.id)
    return {
        "subject_id": subject_id,
        "jurisdiction": juris.id,
        "personalization_off": state.switch_on("personalization_off"),
        "sale_sharing_opt_out": state.switch_on("sale_sharing_opt_out"),
        "gpc": state.switch_on("gpc"),
        "policy_version": policy.version,
        "evaluated_at": now,
        "language": language,
        "entries": consent_entries(effective, policy, now, language),
    }


def history(session: Session, subject_id: str, limit: int, cursor: str | None) -> dict:
    """The subject's events, newest first, a page at a time."""
    position = decode_cursor(cursor, "before", types={"before": int})
    query = select(ConsentEvent).where(ConsentEvent.subject_id == subject_id)
    if position:
        query = query.where(ConsentEvent.id < int(position["before"]))
    rows = session.scalars(query.order_by(ConsentEvent.id.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    nxt = encode_cursor({"before": page[-1].id}) if len(rows) > limit else None
    return {"events": page, "next": nxt}


def subject_events(session: Session, subject_id: str) -> list[ConsentEvent]:
    """Every event of the subject, oldest first (a subject access export's history)."""
    return list(session.scalars(select(ConsentEvent).where(ConsentEvent.subject_id == subject_id)
                                .order_by(ConsentEvent.id)))


def subject_receipts(session: Session, subject_id: str) -> list[dict]:
    """Every stored receipt of the subject with its signature, oldest first."""
    return [{**r.body, "signature": r.signature} for r in session.scalars(
        select(Receipt).where(Receipt.subject_id == subject_id)
        .order_by(Receipt.issued_at, Receipt.receipt_id))]


def get_receipt(session: Session, subject_id: str, receipt_id: str,
                receipt_format: str = "iso27560", jwks: dict | None = None) -> dict:
    """A receipt of this subject: the signed record with its signature, or (`kantara`) the
    Kantara Consent Receipt view of it, which names the signing key from `jwks`.
    Another subject's receipt is not found."""
    receipt = session.get(Receipt, receipt_id) if len(receipt_id) <= 36 else None
    if receipt is None or receipt.subject_id != subject_id:
        raise NotFound("No such receipt for this subject.")
    if receipt_format == "kantara":
        kid = receipt.signature.get("kid")
        key = next((k for k in (jwks or {}).get("keys", ()) if k.get("kid") == kid), None)
        return kantara_view(receipt.body, key["x"] if key else None)
    return {**receipt.body, "signature": receipt.signature}
