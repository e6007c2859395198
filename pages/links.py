"""Signed links to the pages for people: issue one, open one. Pure: keys and time in.

A link's claims are a compact JWS signed with the service's Ed25519 key. They say which
page it opens (`typ` `consentry.page-link/1` and `page`), whose (`sub`), which decision
for an explanation, the language and return URL the backend asked for, who asked (`by`,
an API key's name, and `kid`, its id: the page does only what that key may, and not at
all once it is revoked), when it was issued and when it expires. A consent token from
the signal gate carries neither that claim nor the link's header `typ`
(`consentry-page-link+jwt`), so it can never open a page.

The token in the URL is that JWS sealed with AES-256-GCM under a key derived from the
service's secrets (`SEAL_PURPOSE`): opaque, so browser history and proxy logs read
nothing of the person, the key or the return URL. Every host with the same secrets
opens it.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consent.explain import LANGUAGES
from consentry.fields import is_subject_id
from consentry.secretstore import SecretStore
from consentry.signing import SignatureError, keys_by_kid, verify_jws

TOKEN_TYPE = "consentry.page-link/1"
HEADER_TYPE = "consentry-page-link+jwt"  # the JWS header's typ (RFC 8725 explicit typing)
PAGES = ("preferences", "explanation")
# What a page can do, by the scope of the key that minted its link: read state and
# receipts, save choices (and press an explanation's buttons), list explanations.
PAGE_SCOPES = ("preferences:read", "preferences:write", "explanations:read")
# What a page needs at the least, or the link could do nothing: minting it is refused.
NEEDS = {"preferences": "preferences:read", "explanation": "explanations:read"}
MAX_TOKEN_LENGTH = 6000
MAX_RETURN_URL_LENGTH = 2000
SEAL_PURPOSE = "page-link-seal/1"
SEAL_VERSION = b"\x01"


class LinkRefused(Exception):
    """A token that opens nothing: forged, altered, expired, or for another page."""


@dataclass(frozen=True)
class Link:
    """What an opened link lets its holder see and do."""

    page: str
    subject_id: str
    token: str
    expires_at: datetime
    issued_by: str
    decision_id: str | None = None
    language: str | None = None
    return_url: str | None = None
    key_id: str | None = None  # the minting API key; None: an operator's CLI link
    issued_at: datetime | None = None


def issue_link(keys: SecretStore, *, page: str, subject_id: str, now: datetime, seconds: int,
               issued_by: str, decision_id: str | None = None, language: str | None = None,
               return_url: str | None = None, key_id: str | None = None) -> Link:
    """Sign a link to `page` of `subject_id`, valid for `seconds` from `now`."""
    if page not in PAGES:
        raise ValueError(f"unknown page {page!r}")
    expires_at = datetime.fromtimestamp(int(now.timestamp()) + seconds, UTC)
    return _sign(keys, Link(page, subject_id, "", expires_at, issued_by, decision_id,
                            language, return_url, key_id), now)


def reissue(keys: SecretStore, link: Link, *, page: str, decision_id: str | None,
            now: datetime) -> Link:
    """A link to another page of the same person, expiring with `link` (the preference
    page links each recent explanation this way)."""
    return _sign(keys, Link(page, link.subject_id, "", link.expires_at, link.issued_by,
                            decision_id, link.language, link.return_url, link.key_id), now)


def _sign(keys: SecretStore, link: Link, now: datetime) -> Link:
    # `iat` in whole seconds as JWTs have it; `ims` to the millisecond, so that a link
    # issued just after an erasure finished is not taken for one issued before it
    issued_ms = int(now.timestamp() * 1000)
    claims = {"typ": TOKEN_TYPE, "page": link.page, "sub": link.subject_id,
              "iat": issued_ms // 1000, "ims": issued_ms,
              "exp": int(link.expires_at.timestamp()), "by": link.issued_by}
    for name, value in (("decision", link.decision_id), ("lang", link.language),
                        ("ret", link.return_url), ("kid", link.key_id)):
        if value is not None:
            claims[name] = value
    return replace(link, token=seal(keys, keys.sign_token(claims, HEADER_TYPE)),
                   issued_at=datetime.fromtimestamp(issued_ms / 1000, UTC))


def _seal_key(keys: SecretStore) -> AESGCM:
    return AESGCM(bytes.fromhex(keys.keyed_hash(SEAL_PURPOSE, "aes-256-gcm")))


def seal(keys: SecretStore, signed: str) -> str:
    """The opaque token of a signed link: AES-256-GCM, base64url without padding."""
    nonce = os.urandom(12)
    sealed = _seal_key(keys).encrypt(nonce, signed.encode("ascii"), SEAL_VERSION)
    return base64.urlsafe_b64encode(SEAL_VERSION + nonce + sealed).rstrip(b"=").decode()


def unseal(keys: SecretStore, token: str) -> str:
    """The signed link inside an opaque token; LinkRefused for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise LinkRefused("malformed") from exc
    if len(raw) < 30 or raw[:1] != SEAL_VERSION:
        raise LinkRefused("malformed")
    try:
        return _seal_key(keys).decrypt(raw[1:13], raw[13:], SEAL_VERSION).decode("ascii")
    except (InvalidTag, UnicodeDecodeError) as exc:
        raise LinkRefused("not sealed by this service") from exc


def open_link(keys: SecretStore, token: str, page: str, now: datetime) -> Link:
    """The link `token` stands for, if it is genuine, unexpired and opens `page`."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise LinkRefused("malformed")
    signed = unseal(keys, token)
    try:
        claims = verify_jws(keys_by_kid(keys.jwks()), signed, HEADER_TYPE)
    except (SignatureError, ValueError, TypeError, KeyError) as exc:
        raise LinkRefused("bad signature") from exc
    if not isinstance(claims, dict) or claims.get("typ") != TOKEN_TYPE \
            or claims.get("page") != page:
        raise LinkRefused("not a link to this page")
    expires = claims.get("exp")
    if not isinstance(expires, int) or isinstance(expires, bool) \
            or now.timestamp() >= expires:
        raise LinkRefused("expired")
    subject_id, decision_id = claims.get("sub"), claims.get("decision")
    language, return_url = claims.get("lang"), claims.get("ret")
    key_id, issued_at = claims.get("kid"), claims.get("ims")
    if not is_subject_id(subject_id) \
            or (page == "explanation") != isinstance(decision_id, str) \
            or (language is not None and language not in LANGUAGES) \
            or (return_url is not None and not isinstance(return_url, str)) \
            or (key_id is not None and not isinstance(key_id, str)) \
            or not isinstance(issued_at, int) or isinstance(issued_at, bool):
        raise LinkRefused("claims")
    return Link(page, subject_id, token, datetime.fromtimestamp(expires, UTC),
                str(claims.get("by", "")), decision_id, language, return_url, key_id,
                datetime.fromtimestamp(issued_at / 1000, UTC))
