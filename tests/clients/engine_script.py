"""Run by tests/clients/test_python_client.py with a fresh venv's python, where only
consentry-client (and cryptography) is installed: an engine's life against a served
Consentry. argv: base_url, signals key, writer key, decisions key, issuer. Prints JSON."""

import json
import sys
import urllib.request

from consentry_client import GateClient, SignatureError, verify_receipt, verify_token

base_url, signals_key, writer_key, decisions_key, issuer = sys.argv[1:6]
out = {}


def call(method, path, key, body=None):
    request = urllib.request.Request(
        base_url + path, data=json.dumps(body).encode() if body is not None else None,
        method=method, headers={"Authorization": f"Bearer {key}",
                                "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def consent(status):
    return call("PUT", "/v1/subjects/venv-1/consents", writer_key, {
        "source": "engine-test", "jurisdiction": "EU",
        "choices": [{"purpose": "personalization", "status": status}]})


consent("granted")
gate = GateClient(base_url, signals_key, sync_interval=3600, issuer=issuer)
gate.sync()  # from the head on
first = gate.allowed_signals("venv-1", "personalization", "web")
out["first_allowed"] = list(first.allowed)
out["cached_before"] = gate.cached("venv-1", "personalization", "web") is not None
receipt = consent("denied")["receipt"]
jwks = call("GET", "/.well-known/consentry-keys", signals_key)
out["receipt_verifies"] = verify_receipt(receipt, jwks)["receipt_id"] == receipt["receipt_id"]
out["cached_until_sync"] = gate.cached("venv-1", "personalization", "web") is not None
out["changes_seen"] = gate.sync()
out["cached_after_sync"] = gate.cached("venv-1", "personalization", "web") is not None
second = gate.allowed_signals("venv-1", "personalization", "web")
out["second_allowed"] = list(second.allowed)
claims = verify_token(second.token, jwks, issuer=issuer)
out["token_claims"] = {k: claims[k] for k in ("iss", "sub", "allowed")}
out["gate_verify"] = gate.verify(second.token, "venv-1", "personalization")["sub"]
try:
    verify_token(second.token, jwks, issuer="https://someone-else.example")
    out["wrong_issuer_refused"] = False
except SignatureError:
    out["wrong_issuer_refused"] = True
batch = gate.check_batch(["venv-1", "venv-2"], "personalization", "web")
out["batch"] = {sid: list(answer.allowed) for sid, answer in batch.items()}
decisions = GateClient(base_url, decisions_key)
result = decisions.record_decision("venv-2", "homepage_hero", {"id": "sku-1"},
                                   channel="web",
                                   signals_used=[{"category": "behavioral"}])
out["decision"] = {"conformant": result["conformant"], "has_id": bool(result["decision_id"])}
print(json.dumps(out))
