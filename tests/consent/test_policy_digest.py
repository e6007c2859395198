"""Tokens and receipts name the policy by digest: one version, two policies, told apart."""

import tomli_w

from consent.token import verify_token
from consentry.policy import get_policy, load_policy
from consentry.signing import keys_by_kid, verify_document


def _same_version_other_policy(tmp_path):
    data = load_policy().to_dict()
    data["controller"] = "Someone Else Ltd."
    path = tmp_path / "policy.toml"
    path.write_text(tomli_w.dumps(data))
    return str(path)


def _token_and_receipt(app, make_key):
    client = app.test_client()
    key = make_key("signals:read", "preferences:write", "preferences:read")
    receipt = client.put("/v1/subjects/u-1/consents", headers=key, json={
        "source": "test", "choices": [{"purpose": "analytics", "status": "granted"}],
    }).get_json()["receipt"]
    again = client.get(f"/v1/subjects/u-1/receipts/{receipt['receipt_id']}",
                       headers=key).get_json()
    token = client.get("/v1/subjects/u-1/allowed-signals?purpose=analytics",
                       headers=key).get_json()["token"]
    jwks = client.get("/.well-known/consentry-keys").get_json()
    for signed in (receipt, again):
        verify_document(keys_by_kid(jwks), {k: v for k, v in signed.items()
                                            if k != "signature"}, signed["signature"])
    assert again == receipt
    return verify_token(token, jwks), receipt


def test_tokens_and_receipts_tell_two_policies_of_one_version_apart(make_app, make_key,
                                                                     tmp_path):
    first, second = make_app(), make_app(POLICY_FILE=_same_version_other_policy(tmp_path))
    claims_1, receipt_1 = _token_and_receipt(first, make_key)
    claims_2, receipt_2 = _token_and_receipt(second, make_key)
    assert claims_1["policy_version"] == claims_2["policy_version"] == "2026-11-01"
    assert receipt_1["policy_version"] == receipt_2["policy_version"] == "2026-11-01"
    assert claims_1["policy_digest"] == receipt_1["policy_digest"] == get_policy(first).digest
    assert claims_2["policy_digest"] == receipt_2["policy_digest"] == get_policy(second).digest
    assert claims_1["policy_digest"] != claims_2["policy_digest"]
