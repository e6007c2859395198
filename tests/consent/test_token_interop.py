"""Consent tokens of a served Consentry verify with other people's JOSE code (RFC 8725):
PyJWT, joserfc and the npm `jose` package, each pinned to EdDSA, told the type and issuer.
"""

import hashlib
import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import jwt as pyjwt
import pytest
from consentry_client import verify_token
from consentry_client.signing import SignatureError
from joserfc import jwt as jose_jwt
from joserfc.errors import InvalidClaimError, SecurityWarning
from joserfc.jwk import KeySet

ISSUER = "https://consent.example.test"
TYP = "consentry-consent+jwt"
ROOT = Path(__file__).resolve().parents[2]
JOSE_FIXTURE = ROOT / "tests" / "fixtures" / "jose"
REQUIRE_NODE = os.environ.get("REQUIRE_NODE") == "1" or os.environ.get("REQUIRE_BROWSER") == "1"


@pytest.fixture
def app(make_app):
    return make_app(PUBLIC_URL=ISSUER)


def _get(url: str, headers: dict | None = None) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def served_token(live_server, make_key):
    """A consent token and the JWKS, both fetched over HTTP from a served Consentry."""
    headers = make_key("signals:read")
    answer = _get(f"{live_server}/v1/subjects/u-42/allowed-signals?purpose=personalization"
                  f"&channel=web", headers)
    return answer["token"], _get(f"{live_server}/.well-known/consentry-keys")


def test_our_own_verifier_checks_type_and_issuer(served_token):
    token, jwks = served_token
    claims = verify_token(token, jwks, issuer=ISSUER)
    assert claims["iss"] == ISSUER and claims["sub"] == "u-42"
    assert type(claims["iat"]) is int and type(claims["exp"]) is int
    with pytest.raises(SignatureError, match="wrong issuer"):
        verify_token(token, jwks, issuer="https://elsewhere.example")


def test_pyjwt_verifies_a_served_token(served_token):
    token, jwks = served_token
    header = pyjwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "kid": header["kid"], "typ": TYP}
    key = pyjwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"]))
    claims = pyjwt.decode(token, key=key, algorithms=["EdDSA"], issuer=ISSUER,
                          options={"require": ["iss", "sub", "iat", "exp"]})
    assert claims == verify_token(token, jwks, issuer=ISSUER)
    with pytest.raises(pyjwt.InvalidIssuerError):
        pyjwt.decode(token, key=key, algorithms=["EdDSA"], issuer="https://elsewhere.example")
    with pytest.raises(pyjwt.InvalidSignatureError):
        head, body, sig = token.split(".")
        pyjwt.decode(f"{head}.{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{sig}",
                     key=key, algorithms=["EdDSA"])


def test_joserfc_verifies_a_served_token(served_token):
    token, jwks = served_token
    keys = KeySet.import_key_set({"keys": jwks["keys"]})
    # joserfc warns that RFC 9864 prefers the fully specified "Ed25519"; Consentry keeps
    # "EdDSA", which every JOSE library (and WebCrypto's jose) accepts (docs/signing.md)
    with pytest.warns(SecurityWarning, match="RFC 9864"):
        decoded = jose_jwt.decode(token, keys, algorithms=["EdDSA"])
    assert decoded.header["typ"] == TYP and decoded.header["alg"] == "EdDSA"
    jose_jwt.JWTClaimsRegistry(iss={"essential": True, "value": ISSUER},
                               sub={"essential": True}, exp={"essential": True},
                               iat={"essential": True}).validate(decoded.claims)
    assert decoded.claims == verify_token(token, jwks, issuer=ISSUER)
    with pytest.raises(InvalidClaimError):
        jose_jwt.JWTClaimsRegistry(iss={"essential": True, "value": "https://elsewhere.example"}
                                   ).validate(decoded.claims)


def _jose_checker() -> Path:
    """tests/fixtures/jose installed with `npm ci` into var/ (once per lock file); its script."""
    if not (shutil.which("node") and shutil.which("npm")):
        if REQUIRE_NODE:
            pytest.fail("REQUIRE_NODE=1 (or REQUIRE_BROWSER=1) but node/npm are not installed")
        pytest.skip("node and npm not installed: the npm jose check is skipped")
    lock = (JOSE_FIXTURE / "package-lock.json").read_bytes()
    work = ROOT / "var" / "node" / f"jose-{hashlib.sha256(lock).hexdigest()[:12]}"
    if not (work / "node_modules" / "jose" / "package.json").exists():
        work.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(JOSE_FIXTURE / name, work / name)
        run = subprocess.run(["npm", "ci", "--prefix", str(work), "--no-audit", "--no-fund",
                              "--loglevel=error"], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
    shutil.copy(JOSE_FIXTURE / "verify.mjs", work / "verify.mjs")
    return work / "verify.mjs"


def _node_verify(script: Path, **request) -> tuple[int, dict]:
    run = subprocess.run(["node", str(script)], input=json.dumps(request), capture_output=True,
                         text=True, timeout=60)
    return run.returncode, json.loads(run.stdout or "{}")


def test_npm_jose_verifies_a_served_token(served_token):
    script = _jose_checker()
    token, jwks = served_token
    code, out = _node_verify(script, jwks=jwks, token=token, issuer=ISSUER)
    assert code == 0, out
    assert out["header"]["typ"] == TYP and out["payload"] == verify_token(token, jwks)
    code, out = _node_verify(script, jwks=jwks, token=token, issuer="https://elsewhere.example")
    assert code == 1 and out["error"] == "ERR_JWT_CLAIM_VALIDATION_FAILED"
