"""Consentry's client for personalization engines: a cached, fail-closed signal gate.

No Flask, no SQLAlchemy: the standard library, and `cryptography` to verify tokens.
"""

from consentry_client.gate import Answer, GateClient, GateUnavailable

__all__ = ["Answer", "GateClient", "GateUnavailable"]
