"""Signed consent tokens: what the gate answered, verifiable offline by an engine.

A token is a compact JWS (EdDSA / Ed25519) whose header is
`{"alg": "EdDSA", "kid", "typ": "consentry-consent+jwt"}` (RFC 8725: explicit typing),
and whose payload carries `iss` (`CONSENTRY_PUBLIC_URL`, added by the signer), `sub`,
`purpose`, `channel`, `allowed`, `policy_version`, `policy_digest` (two policies with one
version still differ in it), `jurisdiction`, `limits` (per allowed category whose policy
sets them: `max_signal_age_days` and `decay_after_days`, so an engine can weight and drop
old signals), `iat` and `exp` (Unix seconds). A Consent Mode token
(`consent_mode_payload`, `typ` "consentry-consent-mode+jwt") carries `consent_mode` (the
seven Google Consent Mode v2 fields) instead of `purpose` and `allowed`, so it can never
be read as a gate answer. Verification has its one home in
`consentry_client.tokens` (`verify_token`), which needs only `cryptography` and the JWKS
published at `/.well-known/consentry-keys`.
"""

from __future__ import annotations

from consentry_client.tokens import (  # noqa: F401
    CONSENT_MODE_TOKEN_TYPE,
    CONSENT_TOKEN_TYPE,
    TokenExpired,
    verify_token,
)


def token_payload(subject_id: str, evaluation, policy_version: str, policy_digest: str,
                  issued_at: int, max_age: int, limits: dict | None = None) -> dict:
    """The claims of a consent token for one evaluation (the signer adds `iss`)."""
    return {
        "sub": subject_id,
        "purpose": evaluation.purpose,
        "channel": evaluation.channel,
        "jurisdiction": evaluation.jurisdiction,
        "allowed": evaluation.allowed,
        "limits": limits or {},
        "policy_version": policy_version,
        "policy_digest": policy_digest,
        "iat": issued_at,
        "exp": issued_at + max_age,
    }


def consent_mode_payload(subject_id: str, channel: str | None, jurisdiction: str,
                         consent_mode: dict[str, str], policy_version: str, policy_digest: str,
                         issued_at: int, max_age: int) -> dict:
    """The claims of a Consent Mode token: the seven fields as answered."""
    return {
        "sub": subject_id,
        "channel": channel,
        "jurisdiction": jurisdiction,
        "consent_mode": consent_mode,
        "policy_version": policy_version,
        "policy_digest": policy_digest,
        "iat": issued_at,
        "exp": issued_at + max_age,
    }
