"""Append audit entries: the one function every domain calls, in the caller's transaction."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from audit.actions import is_prefix
from audit.chain import entry_document, entry_hash
from audit.models import AuditEntry, AuditHead, SubjectKey
from consentry import pagination
from consentry.canonical import b64url, b64url_decode
from consentry.clock import utcnow
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


def _subject_data_key(session: Session, keys: SecretStore, ref: str,
                      create: bool) -> bytes | None:
    conn = session.connection()
    row = conn.execute(_KEY_OF, {"ref": ref}).one_or_none()
    if row is None:
        if not create:
            return None
        key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        wrapped = nonce + AESGCM(keys.master_key).encrypt(nonce, key, ref.encode())
        conn.execute(_NEW_KEY, [{"subject_ref": ref, "wrapped_key": wrapped,
                                 "created_at": utcnow()}])
        return key
    if row.wrapped_key is None:
        return None
    wrapped = row.wrapped_key
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

    Takes the chain head's lock, as an append does, and notes its seq on the key: an
    export records its bundle under the same lock, so it sees every key destroyed
    while it was written (audit.export.export_bundle writes such a bundle again).
    """
    head_seq = session.connection().execute(
        select(AuditHead.seq).where(AuditHead.id == 1).with_for_update()).scalar_one()
    row = session.get(SubjectKey, keys.subject_ref(subject_id))
    if row is None or row.wrapped_key is None:
        return False
    row.wrapped_key = None
    row.destroyed_at = utcnow()
    row.destroyed_seq = head_seq
    return True


def append_entry(session: Session, keys: SecretStore, action: str, *,
                 actor: str = SYSTEM_ACTOR,
                 subject_id: str | None = None, details: dict[str, Any] | None = None,
                 personal: dict[str, Any] | None = None) -> AuditEntry:
    """Append one entry to the audit chain in the caller's transaction.

    `details` is stored in clear; `personal` (evidence, free text) is encrypted under
    the subject's key so erasure can shred it without breaking the chain.
    The head row is locked, so `seq` has no gaps and no duplicates under concurrency.
    """
    # Core statements on the session's connection, not the ORM's execution layer: this
    # runs on every write, under the lock. Flush first so pending ORM rows go before it.
    session.flush()
    conn = session.connection()
    head_seq, head_hash = conn.execute(_HEAD_FOR_UPDATE).one()
    ref = keys.subject_ref(subject_id) if subject_id is not None else None
    body = dict(details or {})
    if personal:
        if ref is None:
            raise ValueError("personal fields need a subject")
        body["personal"] = _seal(session, keys, ref, personal)
    seq = head_seq + 1
    now = utcnow()
    document = entry_document(seq, now, actor, action, ref, body, head_hash)
    digest = entry_hash(document)
    values = {"seq": seq, "ts": now, "actor": actor, "action": action, "subject_ref": ref,
              "details": body, "prev_hash": head_hash, "entry_hash": digest}
    conn.execute(_NEW_ENTRY, [values])
    conn.execute(_MOVE_HEAD, {"b_seq": seq, "b_hash": digest})
    return AuditEntry(**values)


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
