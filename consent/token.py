"""Signed consent tokens: what the gate answered, verifiable offline by an engine.

A token is a compact JWS (EdDSA / Ed25519) with `alg`, `kid` and `typ` ("JWT") in its
header, whose payload carries `sub`, `purpose`, `channel`, `allowed`, `policy_version`,
`policy_digest` (two policies with one version still differ in it), `jurisdiction`,
`limits` (per allowed category whose policy sets them: `max_signal_age_days` and
`decay_after_days`, so an engine can weight and drop old signals), `iat` and `exp`
(Unix seconds). A Consent Mode token (`consent_mode_payload`) carries `consent_mode`
(the seven Google Consent Mode v2 fields) instead of `purpose` and `allowed`, so it can
never be read as a gate answer. `verify_token` needs only `cryptography` and the JWKS
published at `/.well-known/consentry-keys`.
"""

from __future__ import annotations

import time

from consentry.signing import SignatureError, keys_by_kid, verify_jws


class TokenExpired(SignatureError):
    """A token whose `exp` has passed."""


def token_payload(subject_id: str, evaluation, policy_version: str, policy_digest: str,
                  issued_at: int, max_age: int, limits: dict | None = None) -> dict:
    """The claims of a consent token for one evaluation."""
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


def verify_token(token: str, jwks: dict | list, now: float | None = None) -> dict:
    """Return the token's claims if its signature verifies and it has not expired."""
    claims = verify_jws(keys_by_kid(jwks), token)
    exp = claims.get("exp")
    if type(exp) is not int:
        raise SignatureError("malformed token: exp is not an integer")
    if (now if now is not None else time.time()) >= exp:
        raise TokenExpired("token expired")
    return claims
