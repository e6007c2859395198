"""Signed checkpoints: the Merkle tree head of the audit log, signed with the active key."""

from __future__ import annotations

from consentry_client.note import checkpoint_text
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit.chain import checkpoint_document, format_ts
from audit.merkle import Frontier, LeafArray, leaf_hash
from audit.models import AuditCheckpoint, AuditEntry, AuditHead
from consentry.clock import utcnow
from consentry.secretstore import SecretStore


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    """Return the checkpoint of the largest tree, if any."""
    return session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1)
    ).first()


def create_checkpoint(session: Session, keys: SecretStore, reason: str) -> AuditCheckpoint:
    """Sign the tree head at the current end of the log; reuse the last one if nothing moved.

    Only the entries appended since the last checkpoint are hashed: its frontier
    carries the rest.
    """
    head = session.get(AuditHead, 1)
    if head is None:
        raise RuntimeError("audit_head is missing: run `flask --app wsgi db upgrade`")
    size = head.seq
    latest = latest_checkpoint(session)
    if latest is not None and latest.tree_size == size:
        return latest
    if latest is not None and latest.tree_size < size:
        frontier = Frontier(latest.tree_size, [bytes.fromhex(h) for h in latest.frontier])
    else:
        frontier = Frontier()
    stmt = (select(AuditEntry.entry_hash)
            .where(AuditEntry.seq > frontier.size, AuditEntry.seq <= size)
            .order_by(AuditEntry.seq)
            .execution_options(yield_per=10_000))
    for digest in session.scalars(stmt):
        frontier.append(leaf_hash(bytes.fromhex(digest)))
    if frontier.size != size:
        raise RuntimeError(f"audit log has gaps: {frontier.size} entries up to seq {size}")
    ts = utcnow()
    root_hash = frontier.root().hex()
    signature = keys.sign(checkpoint_document(size, root_hash, ts))
    checkpoint = AuditCheckpoint(tree_size=size, root_hash=root_hash, ts=ts,
                                 kid=signature["kid"], signature=signature["value"],
                                 reason=reason, frontier=[h.hex() for h in frontier.hashes])
    try:
        with session.begin_nested():
            session.add(checkpoint)
    except IntegrityError:  # another process signed the same size first: use theirs
        return session.scalars(
            select(AuditCheckpoint).where(AuditCheckpoint.tree_size == size)).one()
    return checkpoint


def checkpoint_statement(checkpoint: AuditCheckpoint) -> dict:
    """The signed document and its detached signature, as published and bundled."""
    return {
        "checkpoint": checkpoint_document(checkpoint.tree_size, checkpoint.root_hash,
                                          format_ts(checkpoint.ts)),
        "signature": {"alg": "EdDSA", "kid": checkpoint.kid, "value": checkpoint.signature},
    }


def checkpoint_note(keys: SecretStore, checkpoint: AuditCheckpoint) -> str:
    """The checkpoint as a C2SP signed note (c2sp.org/tlog-checkpoint) under the log's origin,
    signed now by the active key. Signing one tree head again never contradicts the log."""
    text = checkpoint_text(keys.log_origin, checkpoint.tree_size,
                           bytes.fromhex(checkpoint.root_hash))
    return keys.sign_note(text)


def list_checkpoints(session: Session, before: int | None, limit: int) -> list[AuditCheckpoint]:
    """Checkpoints newest first, those below tree size `before` when given."""
    stmt = select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(AuditCheckpoint.tree_size < before)
    return list(session.scalars(stmt))


def load_leaves(session: Session, size: int) -> LeafArray:
    """The leaf hashes of the first `size` entries, packed (32 bytes each)."""
    leaves = LeafArray()
    packed = leaves.packed
    stmt = (select(AuditEntry.entry_hash).where(AuditEntry.seq <= size)
            .order_by(AuditEntry.seq).execution_options(yield_per=20_000))
    for digest in session.scalars(stmt):
        packed += leaf_hash(bytes.fromhex(digest))
    if len(leaves) != size:
        raise RuntimeError(f"audit log has gaps: {len(leaves)} entries up to seq {size}")
    return leaves
