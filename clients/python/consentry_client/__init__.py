"""Consentry's client for engines, and its offline verifiers.

- `GateClient`: the cached, change-feed-exact, fail-closed signal gate; batch checks;
  decisions, single (`record_decision`) and buffered in batches (`decisions()`,
  `DecisionBuffer`).
- `verify_token`, `verify_receipt`, `verify_certificate`: check what Consentry signed,
  offline, against its published JWKS.
- `verify_webhook`: check a webhook's Standard Webhooks signature (`GateClient.verify_webhook`
  also drops the cached answers of the subject it names).
- `consentry-verify BUNDLE --public-key KEYS`: check an audit export bundle.

No Flask, no SQLAlchemy: the standard library, and `cryptography` for Ed25519.
"""

from __future__ import annotations

import importlib

# Loaded on first use, so `consentry-verify` can say "could not run" (exit 4) when a
# dependency is missing instead of failing while Python imports the package.
_HOMES = {
    "BatchRejected": "decisions", "BufferFull": "decisions", "DecisionBuffer": "decisions",
    "verify_certificate": "documents", "verify_receipt": "documents",
    "Answer": "gate", "ConsentryError": "gate", "GateClient": "gate",
    "GateUnavailable": "gate",
    "SignatureError": "signing", "UnknownKeyError": "signing",
    "CONSENT_TOKEN_TYPE": "tokens", "TokenExpired": "tokens", "verify_token": "tokens",
    "WebhookVerificationError": "webhooks", "verify_webhook": "webhooks",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'consentry_client' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"consentry_client.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
