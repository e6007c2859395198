"""How an audit entry is encoded and hashed. Pure: shared by the service and the verifier."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from consentry_client.canonical import canonical_json

GENESIS_HASH = "0" * 64
ENTRY_VERSION = 1


def format_ts(ts: datetime) -> str:
    """RFC 3339 UTC with microseconds, the one text form of a timestamp in the chain."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_document(seq: int, ts: datetime | str, actor: str, action: str,
                   subject_ref: str | None, details: dict, prev_hash: str) -> dict:
    """Return the document whose canonical JSON is hashed into the chain."""
    return {
        "v": ENTRY_VERSION,
        "seq": seq,
        "ts": ts if isinstance(ts, str) else format_ts(ts),
        "actor": actor,
        "action": action,
        "subject_ref": subject_ref,
        "details": details,
        "prev_hash": prev_hash,
    }


def entry_hash(document: dict) -> str:
    """SHA-256 (hex) of the canonical JSON of an entry document."""
    return hashlib.sha256(canonical_json(document)).hexdigest()


LOG_ID = "consentry-audit"
CHECKPOINT_VERSION = 1


def checkpoint_document(tree_size: int, root_hash: str, ts: datetime | str) -> dict:
    """Return the signed statement of a checkpoint: the log's tree head at a time."""
    return {
        "v": CHECKPOINT_VERSION,
        "log": LOG_ID,
        "tree_size": tree_size,
        "root_hash": root_hash,
        "ts": ts if isinstance(ts, str) else format_ts(ts),
    }

