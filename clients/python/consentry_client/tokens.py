"""Consent tokens: the gate's signed answer, verified offline (RFC 8725 rules).

A consent token is a compact JWS whose header is exactly
`{"alg": "EdDSA", "kid": <key id>, "typ": "consentry-consent+jwt"}` and whose claims
carry `iss` (the deployment's URL, `CONSENTRY_PUBLIC_URL`), `sub`, `purpose`,
`channel`, `jurisdiction`, `allowed`, `limits`, `policy_version`, `policy_digest`,
`iat` and `exp` (integer Unix seconds). The algorithm is pinned to EdDSA (Ed25519):
the token's own `alg` is checked, never obeyed.
"""

from __future__ import annotations

import time

from consentry_client.signing import SignatureError, keys_by_kid, verify_jws

CONSENT_TOKEN_TYPE = "consentry-consent+jwt"


class TokenExpired(SignatureError):
    """A token whose `exp` has passed."""


def verify_token(token: str, jwks: dict | list, issuer: str | None = None,
                 now: float | None = None) -> dict:
    """Return a consent token's claims if it is signed by a key of `jwks`, typed as a
    consent token, unexpired, and (when `issuer` is given) issued by `issuer`.

    Raises SignatureError (UnknownKeyError for a key id `jwks` lacks, TokenExpired).
    """
    claims = verify_jws(keys_by_kid(jwks), token, CONSENT_TOKEN_TYPE)
    exp, iat = claims.get("exp"), claims.get("iat")
    if type(exp) is not int or type(iat) is not int:
        raise SignatureError("malformed token: exp and iat must be integers")
    if issuer is not None and claims.get("iss") != issuer:
        raise SignatureError(f"wrong issuer: {claims.get('iss')!r}, not {issuer!r}")
    if (now if now is not None else time.time()) >= exp:
        raise TokenExpired("token expired")
    return claims
