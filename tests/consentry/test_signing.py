"""Hostile tokens and key sets: every malformed input is a SignatureError, one spelling only."""

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consent.token import CONSENT_TOKEN_TYPE as TYP
from consent.token import verify_token
from consentry.canonical import b64url, b64url_decode
from consentry.signing import (
    SignatureError,
    keys_by_kid,
    public_jwk,
    sign_document,
    sign_jws,
    verify_document,
    verify_jws,
)

KEY = Ed25519PrivateKey.generate()
JWKS = {"keys": [public_jwk(KEY.public_key(), "k1")]}
KEYS = keys_by_kid(JWKS)
CLAIMS = {"sub": "u-1", "iat": 1_900_000_000, "exp": 2_000_000_000}


def _part(value) -> str:
    return b64url(json.dumps(value).encode())


def _signed(header, payload=None) -> str:
    """A token with any header, correctly signed by KEY (so only the header is wrong)."""
    head = header if isinstance(header, str) else _part(header)
    body = _part(CLAIMS if payload is None else payload)
    return f"{head}.{body}.{b64url(KEY.sign(f'{head}.{body}'.encode()))}"


def test_tokens_carry_their_explicit_typ_and_verify():
    token = sign_jws(KEY, "k1", CLAIMS, TYP)
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header == {"alg": "EdDSA", "kid": "k1", "typ": "consentry-consent+jwt"}
    assert verify_jws(KEYS, token, TYP) == CLAIMS
    assert verify_token(token, JWKS, now=0) == CLAIMS


def test_a_token_of_another_type_or_issuer_is_refused():
    """RFC 8725 §3.11: a validly signed JWT of another kind is not a consent token."""
    for typ in ("JWT", "consentry-page-link+jwt", "CONSENTRY-CONSENT+JWT"):
        with pytest.raises(SignatureError, match="wrong token type"):
            verify_token(sign_jws(KEY, "k1", CLAIMS, typ), JWKS, now=0)
    token = sign_jws(KEY, "k1", {**CLAIMS, "iss": "https://consent.example"}, TYP)
    assert verify_token(token, JWKS, issuer="https://consent.example", now=0)["sub"] == "u-1"
    with pytest.raises(SignatureError, match="wrong issuer"):
        verify_token(token, JWKS, issuer="https://evil.example", now=0)
    with pytest.raises(SignatureError, match="wrong issuer"):
        verify_token(sign_jws(KEY, "k1", CLAIMS, TYP), JWKS, issuer="https://x.example", now=0)


@pytest.mark.parametrize("token", [
    None, b"a.b.c", 17, "", "a.b", "a.b.c.d", "...",
    _signed(["alg", "EdDSA"]),                       # header a list
    _signed("EdDSA"),                                # header a string (not base64 JSON)
    _signed(42),                                     # header a number
    _signed({"alg": "EdDSA", "kid": ["k1"], "typ": TYP}),   # unhashable kid
    _signed({"alg": "EdDSA", "kid": {"a": 1}, "typ": TYP}),
    _signed({"alg": "EdDSA", "kid": 1, "typ": TYP}),
    _signed({"alg": ["EdDSA"], "kid": "k1", "typ": TYP}),
    _signed({"alg": "none", "kid": "k1", "typ": TYP}),
    _signed({"alg": "EdDSA", "kid": "k1"}),                   # no typ
    _signed({"alg": "EdDSA", "kid": "k1", "typ": "JOSE+JSON"}),
    _signed({"alg": "EdDSA", "kid": "k1", "typ": "JWT"}),      # a JWT of no declared kind
    _signed({"alg": "Ed25519", "kid": "k1", "typ": TYP}),      # the algorithm is pinned
    _signed({"alg": "EdDSA", "kid": "k1", "typ": TYP, "crit": ["exp"]}),
    _signed(b64url(b'{"alg":"EdDSA","alg":"EdDSA","kid":"k1",'  # a repeated member
                   b'"typ":"consentry-consent+jwt"}')),
    _signed(b64url(b"\xff\xfe{}")),                  # not UTF-8
    _signed(b64url(b"[" * 100_000)),                 # nested past the recursion limit
    _signed({"alg": "EdDSA", "kid": "k1", "typ": TYP}, payload=["not", "an", "object"]),
    _signed({"alg": "EdDSA", "kid": "k1", "typ": TYP}, payload=None) + "x",
])
def test_malformed_tokens_are_signature_errors(token):
    with pytest.raises(SignatureError):
        verify_jws(KEYS, token, TYP)
    with pytest.raises(SignatureError):
        verify_token(token, JWKS, now=0)


def _respell(token: str, index: int, change) -> str:
    parts = token.split(".")
    parts[index] = change(parts[index])
    return ".".join(parts)


def _stray_bits(part: str) -> str:
    """The same bytes with the unused low bits of the last character set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused = {2: 0b1111, 3: 0b11}[len(part) % 4]
    last = alphabet[alphabet.index(part[-1]) | unused]
    respelled = part[:-1] + last
    assert base64.urlsafe_b64decode(respelled + "==") == base64.urlsafe_b64decode(part + "==")
    return respelled


@pytest.mark.parametrize("index", [0, 1, 2])
@pytest.mark.parametrize("change", [
    lambda p: p + "=" * (-len(p) % 4 or 4),          # padded
    lambda p: p.replace("-", "+").replace("_", "/") if ("-" in p or "_" in p) else p + "+",
    lambda p: p[:4] + "\n" + p[4:],                   # characters outside the alphabet
    _stray_bits,
], ids=["padding", "standard-alphabet", "whitespace", "stray-bits"])
def test_non_canonical_base64url_is_rejected(index, change):
    token = sign_jws(KEY, "k1", {"sub": "u-1", "exp": 2_000_000_000, "pad": "x"}, TYP)
    if index == 0 or index == 1:
        # the parts are signed as sent, so respell them and sign again: only the spelling
        # of the same bytes is wrong, the signature is right
        head, body, _ = _respell(token, index, change).split(".")
        respelled = f"{head}.{body}.{b64url(KEY.sign(f'{head}.{body}'.encode()))}"
    else:
        respelled = _respell(token, index, change)
    assert respelled != token
    with pytest.raises(SignatureError):
        verify_jws(KEYS, respelled, TYP)


@pytest.mark.parametrize("jwks", [
    None, "keys", 3, {"keys": "x"}, {"keys": {"kid": "k1"}}, {}, [1], [None], ["jwk"],
    [{"kty": "OKP", "crv": "Ed25519", "x": 123, "kid": "k1"}],
    [{"kty": "OKP", "crv": "Ed25519", "kid": "k1"}],
    [{**JWKS["keys"][0], "x": JWKS["keys"][0]["x"] + "="}],
    [{**JWKS["keys"][0], "x": _stray_bits(JWKS["keys"][0]["x"])}],
    [{**JWKS["keys"][0], "x": "AAAA"}],                       # not 32 bytes
    [{**JWKS["keys"][0], "kid": None}],
    [{k: v for k, v in JWKS["keys"][0].items() if k != "kid"}],
    [{**JWKS["keys"][0], "kty": "RSA"}],
])
def test_malformed_key_sets_are_signature_errors(jwks):
    with pytest.raises(SignatureError):
        keys_by_kid(jwks)
    with pytest.raises(SignatureError):
        verify_token(sign_jws(KEY, "k1", CLAIMS, TYP), jwks, now=0)


@pytest.mark.parametrize("signature", [
    None, "sig", [], {}, {"kid": ["k1"], "value": "x"}, {"kid": "k1"}, {"kid": "k1", "value": 5},
    {"kid": "k1", "value": None},
])
def test_malformed_detached_signatures_are_signature_errors(signature):
    with pytest.raises(SignatureError):
        verify_document(KEYS, {"a": 1}, signature)


def test_detached_signature_with_stray_bits_is_rejected():
    signature = sign_document(KEY, "k1", {"a": 1})
    verify_document(KEYS, {"a": 1}, signature)
    with pytest.raises(SignatureError):
        verify_document(KEYS, {"a": 1}, {**signature, "value": _stray_bits(signature["value"])})


@pytest.mark.parametrize("exp", ["2000000000", None, 2e9, True, [1]])
def test_token_with_a_malformed_exp_is_a_signature_error(exp):
    claims = {"sub": "u-1", "iat": 0} if exp is None else {"sub": "u-1", "iat": 0, "exp": exp}
    with pytest.raises(SignatureError):
        verify_token(sign_jws(KEY, "k1", claims, TYP) if exp != 2e9 else _signed(
            {"alg": "EdDSA", "kid": "k1", "typ": TYP}, claims), JWKS, now=0)
