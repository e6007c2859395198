"""Canonical JSON (RFC 8785, JCS) and base64url: their one home is
`consentry_client.canonical`, which engines and the offline verifier share."""

from consentry_client.canonical import (  # noqa: F401
    MAX_SAFE_INTEGER,
    b64url,
    b64url_decode,
    canonical_json,
)
