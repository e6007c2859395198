"""How an audit entry and a checkpoint are encoded and hashed: its one home is
`consentry_client.chain`, which the offline verifier shares; re-exported here."""

from consentry_client.chain import (  # noqa: F401
    CHECKPOINT_VERSION,
    ENTRY_VERSION,
    GENESIS_HASH,
    LOG_ID,
    checkpoint_document,
    entry_document,
    entry_hash,
    format_ts,
)
