"""Consentry's client for engines, and its offline verifiers.

- `GateClient`: the cached, change-feed-exact, fail-closed signal gate; batch checks;
  decisions, single (`record_decision`) and buffered in batches (`decisions()`,
  `DecisionBuffer`).
- `verify_token`, `verify_receipt`, `verify_certificate`: check what Consentry signed,
  offline, against its published JWKS.
- `consentry-verify BUNDLE --public-key KEYS`: check an audit export bundle.

No Flask, no SQLAlchemy: the standard library, and `cryptography` for Ed25519.
"""

from consentry_client.documents import verify_certificate, verify_receipt
from consentry_client.gate import Answer, GateClient, GateUnavailable
from consentry_client.signing import SignatureError, UnknownKeyError
from consentry_client.tokens import CONSENT_TOKEN_TYPE, TokenExpired, verify_token

__all__ = ["CONSENT_TOKEN_TYPE", "Answer", "GateClient", "GateUnavailable", "SignatureError",
           "TokenExpired", "UnknownKeyError", "verify_certificate", "verify_receipt",
           "verify_token"]
