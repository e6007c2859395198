"""The console's check of an OpenID provider's ID token: signature against the JWKS it
publishes (served here over real HTTP), iss, aud, exp and nonce."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from console import oidc
from console.views import Refused

ISSUER = "https://id.example.com"
CLIENT = "consentry-console"
NONCE = "n-0S6_WzA2Mj"


@pytest.fixture(scope="module")
def keys():
    signing = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    other = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same kid, not published
    return signing, other


@pytest.fixture(scope="module")
def jwks_url(keys):
    body = json.dumps(KeySet([keys[0]]).as_dict(private=False)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/jwks"
    server.shutdown()
    server.server_close()


def _token(key, **claims) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": CLIENT, "sub": "u1", "iat": now, "exp": now + 300,
            "nonce": NONCE, "email": "olga@example.com", "email_verified": True} | claims
    return jwt.encode({"alg": "RS256", "kid": "k1"}, {k: v for k, v in body.items()
                                                       if v is not None}, key)


@pytest.fixture
def check(app, jwks_url):
    app.config.update(OIDC_ISSUER=ISSUER, OIDC_CLIENT_ID=CLIENT, OIDC_CLIENT_SECRET="s")
    meta = {"issuer": ISSUER, "jwks_uri": jwks_url}

    def run(token: str, nonce: str = NONCE) -> dict:
        with app.test_request_context("/console/oidc/callback"):
            return oidc._id_claims(meta, token, nonce)

    return run


def test_a_token_signed_by_the_provider_for_this_client_verifies(check, keys):
    claims = check(_token(keys[0]))
    assert claims["email"] == "olga@example.com" and claims["sub"] == "u1"
    assert check(_token(keys[0], aud=[CLIENT, "another"]))["sub"] == "u1"


@pytest.mark.parametrize("change", [
    {"iss": "https://evil.example.com"}, {"aud": "another-client"},
    {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
    {"nonce": "someone-elses"}, {"nonce": None}, {"sub": None}])
def test_a_token_with_a_wrong_claim_is_refused(check, keys, change):
    with pytest.raises(Refused, match="did not verify"):
        check(_token(keys[0], **change))


def test_a_token_signed_by_another_key_or_tampered_is_refused(check, keys):
    with pytest.raises(Refused, match="did not verify"):
        check(_token(keys[1]))
    header, payload, signature = _token(keys[0]).split(".")
    forged = jwt.encode({"alg": "RS256", "kid": "k1"}, {"email": "mallory@example.com"},
                        keys[1]).split(".")[1]
    with pytest.raises(Refused, match="did not verify"):
        check(".".join((header, forged, signature)))
    with pytest.raises(Refused, match="did not verify"):
        check("not-a-token")
