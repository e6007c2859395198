"""Import historical consent records (a migration from another CMP) into the ledger.

Each record keeps the time its choices were made (`occurred_at`), so `?at=` answers
as of then; the service's own time is `received_at`. A record's receipt id is a keyed
hash of its subject, time and choices, so importing a record again finds its receipt
and adds nothing (which makes an interrupted import resumable: run it again).

The state stays the fold of the subject's events in (occurred_at, id) order. A record
no older than the subject's latest event is applied to the stored state, as a live write
is; an older one (a subject written live before its history arrived) is inserted where
it belongs: the snapshots after it are dropped and the state is folded again. A batch
that takes a subject past a multiple of SNAPSHOT_EVERY writes snapshots its state, as
live writes do, so `?at=` on a long imported history stays short.

A subject with a completed erasure is never imported again: its records are skipped and
counted (the receipt ids that marked them imported went with the erasure, so without
this a re-run would bring the person back). Consent does not import retention: the
entry passes the check in (`erased`; app.py puts retention's in
`app.extensions[ERASED_SUBJECTS]`).

Live writes may go on during an import (a batch takes the chain head's lock before it
reads states, as a live write does). Run one import at a time: two importing the same
record at once would both try its receipt, and the later batch fails (run it again).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from audit.service import append_entries
from consent.ledger import SNAPSHOT_EVERY, ChoiceInput, receipt_body, replay_state
from consent.models import ConsentEvent, Receipt, StateSnapshot, SubjectState
from consent.receipts import shared_parts
from consent.state import ConsentState, Event, apply
from consentry.clock import rfc3339, utcnow
from consentry.db import BulkInsert
from consentry.policy import Policy
from consentry.secretstore import SecretStore

IMPORT_BATCH = 1000  # records a transaction (and a commit) of an import
# app.extensions key: (session, keys, subject ids) -> those with a completed erasure
ERASED_SUBJECTS = "consent.erased_subjects"
Erased = Callable[[Session, SecretStore, Iterable[str]], set[str]]


@dataclass(frozen=True)
class ImportRecord:
    """One historical record: one subject's choices made together at `recorded_at`."""

    subject_id: str
    recorded_at: datetime
    source: str
    choices: tuple[ChoiceInput, ...]
    jurisdiction: str | None = None
    notice_version: str | None = None
    evidence: dict | None = None  # as `ledger.protect_evidence` keeps it


def import_id(keys: SecretStore, record: ImportRecord) -> str:
    """The record's stable id (its receipt's id): a keyed hash of subject, time and choices."""
    key = orjson.dumps([record.subject_id, record.recorded_at.astimezone(UTC).isoformat(),
                        sorted([c.purpose, c.category or "", c.channel or "", c.status]
                               for c in record.choices)]).decode()
    return str(uuid.UUID(keys.keyed_hash("consent-import", key)[:32]))


def import_records(session: Session, keys: SecretStore, policy: Policy,
                   records: list[ImportRecord], *, actor: str,
                   erased: Erased | None = None) -> tuple[int, int, int]:
    """Store the records not imported before, in the caller's transaction; return how
    many were imported, how many were found already in, and how many were skipped
    because their subject has a completed erasure (`erased` says which do).

    Records must have passed `ledger.check_choices` and carry their notice version as
    `notices.resolve_notice_version` stores it. One `consent.imported` audit entry
    per subject lists its records' receipts and events; receipts say `imported: true`
    and the record's `recorded_at`.
    """
    conn = session.connection()
    skipped = 0
    if erased is not None and records:
        gone = erased(session, keys, {r.subject_id for r in records})
        if gone:
            kept = [r for r in records if r.subject_id not in gone]
            skipped, records = len(records) - len(kept), kept
    ids = [import_id(keys, r) for r in records]
    known = set(conn.execute(select(Receipt.receipt_id)
                             .where(Receipt.receipt_id.in_(set(ids)))).scalars())
    todo: dict[str, list[tuple[ImportRecord, str]]] = {}
    for record, rid in zip(records, ids, strict=True):
        if rid not in known:
            known.add(rid)
            todo.setdefault(record.subject_id, []).append((record, rid))
    count = sum(len(v) for v in todo.values())
    if not todo:
        return 0, len(records), skipped
    now = utcnow()
    written: dict[str, list[tuple[ImportRecord, str, list[dict]]]] = {}
    audits = []
    for subject_id, items in todo.items():
        items.sort(key=lambda item: item[0].recorded_at)
        written[subject_id] = [(record, rid, _event_rows(record, rid, actor, now))
                               for record, rid in items]
        audits.append((subject_id, {"policy_version": policy.version, "records": [
            {"receipt_id": rid, "recorded_at": rfc3339(record.recorded_at),
             "source": record.source, "jurisdiction": record.jurisdiction,
             "notice_version": record.notice_version,
             "events": [{k: e[k] for k in ("event_id", "purpose", "category", "channel",
                                           "status")} for e in rows]}
            for record, rid, rows in written[subject_id]]}))
    # The subjects' state rows are locked until the commit (FOR UPDATE; SQLite has one
    # writer anyway): a live write of one of them waits, then finds the version moved and
    # folds again, so neither write is lost. A first live write of a subject racing the
    # import's insert fails one of them on the key; a re-run of the import completes it.
    stored = {row.subject_id: row for row in conn.execute(
        select(SubjectState.subject_id, SubjectState.state, SubjectState.version,
               SubjectState.updated_at).where(SubjectState.subject_id.in_(list(todo)))
        .with_for_update())}
    events, receipts, refolded, states = [], [], [], {}
    memo: dict = {}  # the notices and policy parts of this batch's receipts, built once
    for subject_id, items in written.items():
        row = stored.get(subject_id)
        state = ConsentState.from_json(row.state) if row else ConsentState()
        latest = row.updated_at if row else None
        if latest is not None and items[0][0].recorded_at < latest:
            refolded.append((subject_id, items[0][0].recorded_at))
        for record, rid, rows in items:
            for e in rows:
                state = apply(state, Event(kind="choice", received_at=record.recorded_at,
                                           jurisdiction=record.jurisdiction,
                                           purpose=e["purpose"], category=e["category"],
                                           channel=e["channel"], status=e["status"],
                                           source=record.source))
            events += rows
            shown = [{"purpose": c.purpose, "category": c.category, "channel": c.channel,
                      "status": c.status} for c in record.choices]
            body = {**receipt_body(session, policy, subject_id, rid, now, state, record.source,
                                   record.notice_version, shown, rows, memo=memo),
                    "imported": True, "recorded_at": rfc3339(record.recorded_at)}
            receipts.append({"receipt_id": rid, "subject_id": subject_id, "issued_at": now,
                             "body": body, "signature": keys.sign(body, shared_parts(memo))})
            latest = record.recorded_at if latest is None else max(latest, record.recorded_at)
        states[subject_id] = (state, latest, len(items))
    _INSERT_EVENTS(conn, events)
    _INSERT_RECEIPTS(conn, receipts)
    for subject_id, earliest in refolded:
        # Snapshots after the earliest inserted record no longer hold; fold anew.
        conn.execute(delete(StateSnapshot).where(StateSnapshot.subject_id == subject_id,
                                                 StateSnapshot.taken_at > earliest))
        state, latest, n = states[subject_id]
        states[subject_id] = (replay_state(session, subject_id), latest, n)
    inserts, updates, changes, snapshots = [], [], [], []
    for subject_id, (state, latest, n) in states.items():
        new_state, row = state.to_json(), stored.get(subject_id)
        before = row.version if row else 0
        if before // SNAPSHOT_EVERY != (before + n) // SNAPSHOT_EVERY:
            snapshots.append((subject_id, new_state))
        if row is None:
            inserts.append({"subject_id": subject_id, "state": new_state, "version": n,
                            "updated_at": latest})
        else:
            updates.append({"sid": subject_id, "new_state": new_state,
                            "new_version": row.version + n, "new_updated_at": latest})
        if row is None or row.state != new_state:
            changes.append(subject_id)
    if inserts:
        conn.execute(insert(SubjectState), inserts)
    if updates:
        table = SubjectState.__table__
        conn.execute(update(table).where(table.c.subject_id == bindparam("sid")).values(
            state=bindparam("new_state"), version=bindparam("new_version"),
            updated_at=bindparam("new_updated_at")), updates)
    # One entry per subject; the sequencer writes the change-feed row of each subject
    # whose state changed, in seq order.
    append_entries(session, keys, "consent.imported", audits, actor=actor,
                   changed_subjects=set(changes))
    for subject_id, new_state in snapshots:
        # As live writes do every SNAPSHOT_EVERY writes: a snapshot of the whole state at
        # the subject's last position, so `?at=` replays stay short after a long history.
        last = conn.execute(select(ConsentEvent.id, ConsentEvent.occurred_at)
                            .where(ConsentEvent.subject_id == subject_id)
                            .order_by(ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc())
                            .limit(1)).one()
        conn.execute(insert(StateSnapshot), [{"subject_id": subject_id, "event_id": last.id,
                                              "taken_at": last.occurred_at,
                                              "state": new_state}])
    return count, len(records) - count, skipped


# Straight to the driver (an import writes a million rows); the events' id is the rowid
_INSERT_EVENTS = BulkInsert(ConsentEvent.__table__, left_out=("id",))
_INSERT_RECEIPTS = BulkInsert(Receipt.__table__)


def _event_rows(record: ImportRecord, receipt_id: str, actor: str, now: datetime) -> list[dict]:
    """The events of one record: its choices, made at `recorded_at`, received `now`."""
    return [{"event_id": str(uuid.uuid4()), "subject_id": record.subject_id, "kind": "choice",
             "purpose": c.purpose, "category": c.category, "channel": c.channel,
             "switch": None, "status": c.status, "jurisdiction": record.jurisdiction,
             "source": record.source, "notice_version": record.notice_version,
             "evidence": record.evidence, "receipt_id": receipt_id, "idempotency_key": None,
             "actor": actor, "received_at": now, "occurred_at": record.recorded_at}
            for c in record.choices]
