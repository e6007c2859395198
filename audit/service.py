"""Append audit entries: the one function every domain calls, in the caller's transaction.

An append only queues its entry (`audit_queue`), so a write never waits for the chain's
head: `integrate`, the sequencer, locks the head once for a batch of queued entries and
gives them their seq and hash, and the change-feed rows of consent writes, in the order
it takes them. `append_entry(..., sequence=True)` integrates at once, under the lock,
for the few callers that need the seq in their own transaction.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from audit.actions import is_prefix
from audit.chain import entry_document, entry_hash
from audit.models import AuditEntry, AuditHead, AuditQueued, SubjectKey
from consentry import pagination
from consentry.canonical import b64url, b64url_decode
from consentry.clock import utcnow
from consentry.db import call_after_commit, transaction_notes
from consentry.secretstore import SecretStore

SYSTEM_ACTOR = "system"

# The statements of every append, built once: building and cache-keying a statement
# costs more than running it on SQLite (bench/profiles/consent_write_before.txt).
_KEY_OF = select(SubjectKey.wrapped_key).where(SubjectKey.subject_ref == bindparam("ref"))
_NEW_KEY = insert(SubjectKey)
_HEAD_FOR_UPDATE = (select(AuditHead.seq, AuditHead.entry_hash)
                    .where(AuditHead.id == 1).with_for_update())
_NEW_ENTRY = insert(AuditEntry)
_MOVE_HEAD = (update(AuditHead).where(AuditHead.id == 1)
              .values(seq=bindparam("b_seq"), entry_hash=bindparam("b_hash")))
_QUEUE = insert(AuditQueued)
_QUEUE_RETURNING_ID = insert(AuditQueued).returning(AuditQueued.id)
_QUEUED = (select(AuditQueued.id, AuditQueued.ts, AuditQueued.actor, AuditQueued.action,
                  AuditQueued.subject_ref, AuditQueued.details, AuditQueued.changed_subject)
           .order_by(AuditQueued.id).limit(bindparam("limit")))
_QUEUED_UP_TO = (select(AuditQueued.id, AuditQueued.ts, AuditQueued.actor, AuditQueued.action,
                        AuditQueued.subject_ref, AuditQueued.details,
                        AuditQueued.changed_subject)
                 .where(AuditQueued.id <= bindparam("up_to")).order_by(AuditQueued.id))
_UNQUEUE = delete(AuditQueued).where(AuditQueued.id.in_(bindparam("ids", expanding=True)))
BATCH = 1000  # entries a sequencer transaction integrates at most (Trillian's batch)

# What the sequencer tells other domains about the entries it sequenced: called in its
# transaction with the connection and each entry's seq, ts and changed_subject (the
# consent domain writes its change feed here; audit imports no domain).
SequencedHook = Callable[[Connection, list[dict[str, Any]]], None]
_SEQUENCED_HOOKS: list[SequencedHook] = []


def on_sequenced(hook: SequencedHook) -> SequencedHook:
    """Register `hook` to run in every sequencer transaction (once per function)."""
    if hook not in _SEQUENCED_HOOKS:
        _SEQUENCED_HOOKS.append(hook)
    return hook


# A subject's key row as columns another statement of the caller's may carry, `ref` the
# subject's ref: whether the row exists, and its wrapped key (None once destroyed). A
# consent write's read of the subject's state carries them and hands them over with
# `note_subject_key`, so sealing its evidence reads no row of its own.
def subject_key_columns(ref) -> tuple:
    """The columns `subject_key` (wrapped key) and `subject_key_row` (it exists) for `ref`."""
    where = SubjectKey.subject_ref == ref
    return (select(SubjectKey.wrapped_key).where(where).scalar_subquery().label("subject_key"),
            select(SubjectKey.subject_ref).where(where).exists().label("subject_key_row"))


_NOTED_KEYS = "consentry.subject_keys"  # transaction_notes: {ref: (exists, wrapped key)}


def note_subject_key(session: Session, ref: str, exists: bool, wrapped: bytes | None) -> None:
    """Hand the next seal of `ref` in this transaction its key row, as a statement of this
    transaction just read it (`subject_key_columns`). Used once, and only in this
    transaction: any later seal reads the row again."""
    transaction_notes(session, _NOTED_KEYS)[ref] = (exists, wrapped)


def _key_row(session: Session, ref: str):
    """The subject's key row: (it exists, wrapped key), as noted or read now."""
    noted = transaction_notes(session, _NOTED_KEYS).pop(ref, None)
    if noted is not None:
        return noted
    row = session.connection().execute(_KEY_OF, {"ref": ref}).one_or_none()
    return (False, None) if row is None else (True, row.wrapped_key)


def _subject_data_key(session: Session, keys: SecretStore, ref: str,
                      create: bool) -> bytes | None:
    conn = session.connection()
    exists, wrapped = _key_row(session, ref)
    if not exists:
        if not create:
            return None
        key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        wrapped = nonce + AESGCM(keys.master_key).encrypt(nonce, key, ref.encode())
        conn.execute(_NEW_KEY, [{"subject_ref": ref, "wrapped_key": wrapped,
                                 "created_at": utcnow()}])
        return key
    if wrapped is None:
        return None
    return AESGCM(keys.master_key).decrypt(wrapped[:12], wrapped[12:], ref.encode())


def _seal(session: Session, keys: SecretStore, ref: str, personal: dict) -> dict:
    key = _subject_data_key(session, keys, ref, create=True)
    if key is None:  # the subject was erased: personal fields are not recorded again
        return {"alg": "A256GCM", "shredded": True}
    nonce = os.urandom(12)
    plaintext = json.dumps(personal, sort_keys=True).encode()
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, ref.encode())
    return {"alg": "A256GCM", "nonce": b64url(nonce), "ct": b64url(ciphertext)}


def open_personal(session: Session, keys: SecretStore, entry: AuditEntry) -> dict | None:
    """Decrypt an entry's personal fields; None when there are none or the key is destroyed."""
    sealed = entry.details.get("personal")
    if not sealed or not entry.subject_ref or "ct" not in sealed:
        return None
    key = _subject_data_key(session, keys, entry.subject_ref, create=False)
    if key is None:
        return None
    plaintext = AESGCM(key).decrypt(b64url_decode(sealed["nonce"]), b64url_decode(sealed["ct"]),
                                    entry.subject_ref.encode())
    return json.loads(plaintext)


def read_personal(session: Session, keys: SecretStore, seq: int) -> dict | None:
    """The opened personal fields of entry `seq`; None when it has none or they are shredded."""
    entry = session.get(AuditEntry, seq)
    return open_personal(session, keys, entry) if entry is not None else None


def destroy_subject_key(session: Session, keys: SecretStore, subject_id: str) -> bool:
    """Crypto-shred a subject's personal audit fields; True if a key was destroyed.

    Takes the chain head's lock, as the sequencer does, and notes its seq on the key: an
    export records its bundle under the same lock, so it sees every key destroyed
    while it was written (audit.export.export_bundle writes such a bundle again). The
    subject's entries still queued are sequenced first, so they are all below that seq.
    """
    integrate_all(session)
    head_seq, _ = lock_head(session)
    ref = keys.subject_ref(subject_id)
    transaction_notes(session, _NOTED_KEYS).pop(ref, None)
    row = session.get(SubjectKey, ref)
    if row is None or row.wrapped_key is None:
        return False
    row.wrapped_key = None
    row.destroyed_at = utcnow()
    row.destroyed_seq = head_seq
    return True


def append_entry(session: Session, keys: SecretStore, action: str, *,
                 actor: str = SYSTEM_ACTOR,
                 subject_id: str | None = None, details: dict[str, Any] | None = None,
                 personal: dict[str, Any] | None = None, ts: datetime | None = None,
                 changed_subject: str | None = None, sequence: bool = False) -> AuditEntry:
    """Append one entry to the audit log in the caller's transaction.

    `details` is stored in clear; `personal` (evidence, free text) is encrypted under
    the subject's key so erasure can shred it without breaking the chain. `ts` is the
    entry's time (default now).

    The entry is queued: the sequencer gives it its `seq` and hash after the caller
    commits (see `integrate`), so the returned entry has no seq, and appends never
    wait for each other. `changed_subject` asks the sequencer for that subject's
    change-feed row. With `sequence=True` the entry (and every queued entry before it)
    is sequenced now, under the chain head's lock, which the caller then holds until
    it commits: for the few callers that keep the seq.
    """
    conn = session.connection()
    ref = keys.subject_ref(subject_id) if subject_id is not None else None
    body = dict(details or {})
    if personal:
        if ref is None:
            raise ValueError("personal fields need a subject")
        body["personal"] = _seal(session, keys, ref, personal)
    values = {"ts": ts or utcnow(), "actor": actor, "action": action, "subject_ref": ref,
              "details": body, "changed_subject": changed_subject}
    if not sequence:
        conn.execute(_QUEUE, [values])
        call_after_commit(session)  # an inline sequencer (AUDIT_SEQUENCE_INLINE) runs then
        return AuditEntry(seq=None, ts=values["ts"], actor=actor, action=action,
                          subject_ref=ref, details=body)
    session.flush()  # pending ORM rows go first, as they would have under the lock
    queued_id = conn.execute(_QUEUE_RETURNING_ID, values).scalar_one()
    sequenced = integrate(session, up_to=queued_id)
    return next(e for e in sequenced if e.queued_id == queued_id)


def lock_head(session: Session) -> tuple[int, str]:
    """Lock the chain's head row until the caller's transaction ends; its seq and hash."""
    return tuple(session.connection().execute(_HEAD_FOR_UPDATE).one())


def integrate(session: Session, limit: int = BATCH,
              up_to: int | None = None) -> list[AuditEntry]:
    """The sequencer: move queued entries into the chain, oldest queued first.

    Locks the head, gives each of up to `limit` queued entries (or every one up to queue
    id `up_to`) the next seq, chains its hash, inserts them, runs the `on_sequenced`
    hooks (the change feed), deletes them from the queue and moves the head — in the
    caller's transaction, which must commit before the lock is free. Every sequencer
    takes the same lock, so an entry is integrated exactly once and `seq` has no gaps;
    a batch commits whole, so a reader of the log or of the change feed sees all of it
    or none, and later batches only get higher seqs. Returns the entries written, each
    with `queued_id` set.
    """
    conn = session.connection()
    head_seq, head_hash = conn.execute(_HEAD_FOR_UPDATE).one()
    if up_to is None:
        queued = conn.execute(_QUEUED, {"limit": limit}).all()
    else:
        queued = conn.execute(_QUEUED_UP_TO, {"up_to": up_to}).all()
    if not queued:
        return []
    rows, hooked, written = [], [], []
    for qid, ts, actor, action, ref, details, changed_subject in queued:
        head_seq += 1
        digest = entry_hash(entry_document(head_seq, ts, actor, action, ref, details,
                                           head_hash))
        values = {"seq": head_seq, "ts": ts, "actor": actor, "action": action,
                  "subject_ref": ref, "details": details, "prev_hash": head_hash,
                  "entry_hash": digest}
        rows.append(values)
        entry = AuditEntry(**values)
        entry.queued_id = qid
        written.append(entry)
        hooked.append({"seq": head_seq, "ts": ts, "changed_subject": changed_subject})
        head_hash = digest
    conn.execute(_NEW_ENTRY, rows)
    for hook in _SEQUENCED_HOOKS:
        hook(conn, hooked)
    gone = conn.execute(_UNQUEUE, {"ids": [q[0] for q in queued]}).rowcount
    if gone != len(queued):  # another sequencer took them: the head lock should prevent it
        raise RuntimeError(f"audit queue: {len(queued)} entries read, {gone} deleted")
    conn.execute(_MOVE_HEAD, {"b_seq": head_seq, "b_hash": head_hash})
    return written


def integrate_all(session: Session) -> int:
    """Sequence every entry queued (and visible) now, in batches; how many there were."""
    total = 0
    while True:
        count = len(integrate(session))
        total += count
        if count < BATCH:
            return total


def queued_count(session: Session) -> int:
    """How many entries wait for the sequencer."""
    return session.scalar(select(func.count()).select_from(AuditQueued)) or 0


def chain_head(session: Session) -> tuple[int, str]:
    """The chain's head: the last entry's seq and hash (0 and zeros when empty)."""
    return tuple(session.execute(select(AuditHead.seq, AuditHead.entry_hash)
                                 .where(AuditHead.id == 1)).one())


def encode_cursor(position: int) -> str:
    """An opaque cursor for the list position after `position`."""
    return pagination.encode_cursor({"p": position})


def decode_cursor(cursor: str) -> int:
    """The position a cursor stands for; Invalid (422) when it is not one of ours."""
    return pagination.decode_cursor(cursor, "p", types={"p": int})["p"]


def list_entries(session: Session, keys: SecretStore, *, since: datetime | None = None,
                 until: datetime | None = None, action: str | None = None,
                 subject_id: str | None = None, after: int = 0,
                 limit: int = 50) -> tuple[list[AuditEntry], int | None]:
    """Entries in log order matching the filters, after seq `after`; and the next position.

    An `action` ending in a dot is a prefix: `consent.` matches every consent action.
    """
    stmt = select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq)
    if since is not None:
        stmt = stmt.where(AuditEntry.ts >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.ts < until)
    if action is not None and is_prefix(action):
        stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True))
    elif action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    if subject_id is not None:
        stmt = stmt.where(AuditEntry.subject_ref == keys.subject_ref(subject_id))
    rows = list(session.scalars(stmt.limit(limit + 1)))
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, rows[-1].seq
    return rows, None


def entry_view(session: Session, keys: SecretStore, entry: AuditEntry) -> dict[str, Any]:
    """An entry as the API shows it: personal fields opened, or marked shredded."""
    sealed = entry.details.get("personal")
    personal = None
    shredded = False
    if sealed:
        shredded = bool(sealed.get("shredded"))
        if not shredded:
            try:
                personal = open_personal(session, keys, entry)
                shredded = personal is None  # the subject's key is destroyed
            except (InvalidTag, ValueError, KeyError):  # damaged: the chain will say so
                personal = None
    return {"seq": entry.seq, "ts": entry.ts, "actor": entry.actor, "action": entry.action,
            "subject_ref": entry.subject_ref, "details": entry.details,
            "personal": personal, "shredded": shredded,
            "prev_hash": entry.prev_hash, "entry_hash": entry.entry_hash}


def append_entries(session: Session, keys: SecretStore, action: str,
                   entries: list[tuple[str | None, dict[str, Any]]], *,
                   actor: str = SYSTEM_ACTOR, changed_subjects: Collection[str] = ()) -> None:
    """Queue many entries of one action, each `(subject_id, details)`, in the caller's
    transaction, with one insert: as `append_entry` queues each in turn. The entry of a
    subject in `changed_subjects` asks the sequencer for its change-feed row. No
    personal fields (a bulk import or a batch of decisions has none to seal)."""
    if not entries:
        return
    now = utcnow()
    session.connection().execute(_QUEUE, [
        {"ts": now, "actor": actor, "action": action,
         "subject_ref": keys.subject_ref(subject_id) if subject_id is not None else None,
         "details": dict(details),
         "changed_subject": subject_id if subject_id in changed_subjects else None}
        for subject_id, details in entries])
    call_after_commit(session)  # an inline sequencer (AUDIT_SEQUENCE_INLINE) runs then
