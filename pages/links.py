"""Signed links to the pages for people: issue one, open one. Pure: keys and time in.

A link's token is a compact JWS signed with the service's Ed25519 key. Its claims say
which page it opens (`typ` `consentry.page-link/1` and `page`), whose (`sub`), which
decision for an explanation, the language and return URL the backend asked for, who
asked (`by`, an API key name) and when it expires. A consent token from the signal gate
carries neither that claim nor the link's header `typ` (`consentry-page-link+jwt`), so it
can never open a page.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from consent.explain import LANGUAGES
from consentry.fields import is_subject_id
from consentry.secretstore import SecretStore
from consentry.signing import SignatureError, keys_by_kid, verify_jws

TOKEN_TYPE = "consentry.page-link/1"
HEADER_TYPE = "consentry-page-link+jwt"  # the JWS header's typ (RFC 8725 explicit typing)
PAGES = ("preferences", "explanation")
MAX_TOKEN_LENGTH = 4096
MAX_RETURN_URL_LENGTH = 2000


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


def issue_link(keys: SecretStore, *, page: str, subject_id: str, now: datetime, seconds: int,
               issued_by: str, decision_id: str | None = None, language: str | None = None,
               return_url: str | None = None) -> Link:
    """Sign a link to `page` of `subject_id`, valid for `seconds` from `now`."""
    if page not in PAGES:
        raise ValueError(f"unknown page {page!r}")
    expires_at = datetime.fromtimestamp(int(now.timestamp()) + seconds, UTC)
    return _sign(keys, Link(page, subject_id, "", expires_at, issued_by, decision_id,
                            language, return_url), now)


def reissue(keys: SecretStore, link: Link, *, page: str, decision_id: str | None,
            now: datetime) -> Link:
    """A link to another page of the same person, expiring with `link` (the preference
    page links each recent explanation this way)."""
    return _sign(keys, Link(page, link.subject_id, "", link.expires_at, link.issued_by,
                            decision_id, link.language, link.return_url), now)


def _sign(keys: SecretStore, link: Link, now: datetime) -> Link:
    claims = {"typ": TOKEN_TYPE, "page": link.page, "sub": link.subject_id,
              "iat": int(now.timestamp()), "exp": int(link.expires_at.timestamp()),
              "by": link.issued_by}
    for name, value in (("decision", link.decision_id), ("lang", link.language),
                        ("ret", link.return_url)):
        if value is not None:
            claims[name] = value
    return replace(link, token=keys.sign_token(claims, HEADER_TYPE))


def open_link(keys: SecretStore, token: str, page: str, now: datetime) -> Link:
    """The link `token` stands for, if it is genuine, unexpired and opens `page`."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise LinkRefused("malformed")
    try:
        claims = verify_jws(keys_by_kid(keys.jwks()), token, HEADER_TYPE)
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
    if not is_subject_id(subject_id) \
            or (page == "explanation") != isinstance(decision_id, str) \
            or (language is not None and language not in LANGUAGES) \
            or (return_url is not None and not isinstance(return_url, str)):
        raise LinkRefused("claims")
    return Link(page, subject_id, token, datetime.fromtimestamp(expires, UTC),
                str(claims.get("by", "")), decision_id, language, return_url)
