"""The audit log's Merkle tree (RFC 9162 §2.1): its one home is `consentry_client.merkle`,
which the offline verifier shares; re-exported here for the service."""

from consentry_client.merkle import (  # noqa: F401
    Frontier,
    LeafArray,
    consistency_proof,
    inclusion_proof,
    inclusion_proofs,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion,
    subtree_root,
    verify_consistency,
    verify_inclusion,
)
