"""Single sign-on to the console with OpenID Connect (authorization code, PKCE S256).

On when CONSENTRY_OIDC_ISSUER, _CLIENT_ID and _CLIENT_SECRET are all set. `GET
/console/oidc/start` sends the browser to the provider with a fresh `state`, a `nonce`
and an S256 code challenge, asking for `openid email`; the state rides back in a
`SameSite=Lax` cookie (a `Strict` one is not sent on the provider's redirect), and the
nonce and code verifier are keyed hashes of it, so nothing else is kept. `GET
/console/oidc/callback` checks the state, exchanges the code (the client authenticating
with `client_secret_basic`), and verifies the ID token: its signature against the
provider's JWKS (from discovery), `iss`, `aud`, `exp` and `nonce`. Its verified `email`
(or the userinfo's, for the same `sub`) must be an active staff account's, whose role
applies; any other is refused and named in the audit log (`console.sign_in_refused`).
The provider does its own second factor: an SSO sign-in asks for no TOTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from flask import current_app, redirect, request, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from audit.service import append_entry
from consentry.clock import utcnow
from consentry.db import get_db
from consentry.secretstore import get_keys
from console import sessions, staff
from console.views import Refused, _render, _safe_next, bp, set_session_cookie

STATE_COOKIE = "consentry_console_oidc"
STATE_SECONDS = 600
DISCOVERY_SECONDS = 300
HTTP_TIMEOUT = 10
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]

_cache: dict[str, tuple[float, dict]] = {}
_cache_lock = threading.Lock()


def enabled() -> bool:
    """Whether SSO is configured (all three settings)."""
    config = current_app.config
    return all(config.get(k) for k in ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"))


class ProviderUnreachable(Refused):
    status = 502
    code = "bad_gateway"


def _fetch_json(url: str, data: bytes | None = None, headers: dict | None = None) -> dict:
    req = urllib.request.Request(url, data=data, headers={"Accept": "application/json",
                                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as answer:  # noqa: S310
            return json.loads(answer.read(1_000_000))
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read(10_000)).get("error", exc.code)
        except ValueError:
            detail = exc.code
        raise Refused(f"The sign-in provider refused the request ({detail}), so you were "
                      "not signed in. Start again.", code="sso_refused") from exc
    except (OSError, ValueError) as exc:
        raise ProviderUnreachable("The sign-in provider could not be reached or answered "
                                  "nonsense, so you were not signed in. Try again later.") \
            from exc


def _cached(url: str, refresh: bool = False) -> dict:
    with _cache_lock:
        hit = _cache.get(url)
    if hit and not refresh and time.monotonic() - hit[0] < DISCOVERY_SECONDS:
        return hit[1]
    document = _fetch_json(url)
    with _cache_lock:
        _cache[url] = (time.monotonic(), document)
    return document


def _discovery() -> dict:
    issuer = current_app.config["OIDC_ISSUER"].rstrip("/")
    document = _cached(f"{issuer}/.well-known/openid-configuration")
    if document.get("issuer", "").rstrip("/") != issuer:
        raise ProviderUnreachable("The provider's discovery document names another issuer.")
    return document


def _derived(purpose: str, state: str) -> str:
    return get_keys().keyed_hash(f"console-oidc-{purpose}", state)  # 64 hex characters


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _callback_url() -> str:
    return url_for("console.oidc_callback", _external=True)


def _require_enabled() -> None:
    if not enabled():
        raise Refused("Single sign-on is not set up on this service.", code="not_found",
                      status=404)


@bp.get("/oidc/start")
def oidc_start():
    """Send the browser to the provider's sign-in, with state, nonce and PKCE."""
    _require_enabled()
    meta = _discovery()
    state = secrets.token_urlsafe(32)
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": current_app.config["OIDC_CLIENT_ID"],
        "redirect_uri": _callback_url(), "scope": "openid email", "state": state,
        "nonce": _derived("nonce", state), "code_challenge_method": "S256",
        "code_challenge": _challenge(_derived("pkce", state))})
    response = redirect(f"{meta['authorization_endpoint']}?{query}", code=303)
    target = _safe_next(request.args.get("next"))
    next_part = base64.urlsafe_b64encode(target.encode()).decode().rstrip("=")
    response.set_cookie(STATE_COOKIE, f"{state}.{next_part}", max_age=STATE_SECONDS,
                        path="/console/oidc", secure=request.is_secure, httponly=True,
                        samesite="Lax")
    return response


def _state_and_next() -> tuple[str, str]:
    state, _, next_part = request.cookies.get(STATE_COOKIE, "").partition(".")
    presented = request.args.get("state", "")
    if not state or not presented or not hmac.compare_digest(state, presented):
        raise Refused("This sign-in's state does not match the one this browser started "
                      "(it expired, or the link came from elsewhere), so you were not "
                      "signed in. Start again.", code="bad_state", status=400)
    try:
        target = base64.urlsafe_b64decode(next_part + "=" * (-len(next_part) % 4)).decode()
    except ValueError:
        target = ""
    return state, _safe_next(target)


def _id_claims(meta: dict, id_token: str, nonce: str) -> dict:
    config = current_app.config
    try:
        try:
            token = jwt.decode(id_token, KeySet.import_key_set(_cached(meta["jwks_uri"])),
                               algorithms=ALGORITHMS)
        except JoseError:  # a key rotated since the JWKS was read: read it once more
            token = jwt.decode(id_token, KeySet.import_key_set(
                _cached(meta["jwks_uri"], refresh=True)), algorithms=ALGORITHMS)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": meta["issuer"]},
            aud={"essential": True, "value": config["OIDC_CLIENT_ID"]},
            exp={"essential": True}, sub={"essential": True},
            nonce={"essential": True, "value": nonce}).validate(token.claims)
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise Refused("The provider's ID token did not verify (signature, issuer, audience, "
                      "expiry or nonce), so you were not signed in.", code="sso_refused") \
            from exc
    return dict(token.claims)


def _refuse(email: str | None, reason: str, message: str) -> None:
    """Name the refused sign-in in the audit log (its own transaction), then refuse."""
    with get_db().transaction() as session:
        append_entry(session, get_keys(), "console.sign_in_refused",
                     actor=f"oidc:{email or '-'}",
                     details={"method": "oidc", "email": email, "reason": reason})
    raise Refused(message, code="sso_refused")


@bp.get("/oidc/callback")
def oidc_callback():
    """Finish the code flow: check state, code and ID token; open the staff session."""
    _require_enabled()
    if request.args.get("error"):
        raise Refused(f"The sign-in provider did not sign you in "
                      f"({request.args['error'][:100]}).", code="sso_refused")
    state, target = _state_and_next()
    code = request.args.get("code", "")
    if not code or len(code) > 2000:
        raise Refused("The provider sent no authorization code.", code="bad_request",
                      status=400)
    meta, config = _discovery(), current_app.config
    if request.args.get("iss", meta["issuer"]) != meta["issuer"]:  # RFC 9207: no mix-up
        raise Refused("The sign-in answer came from another provider than this one.",
                      code="bad_request", status=400)
    basic = base64.b64encode(":".join(urllib.parse.quote(config[k], safe="") for k in (
        "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")).encode()).decode()
    tokens = _fetch_json(meta["token_endpoint"], urllib.parse.urlencode({
        "grant_type": "authorization_code", "code": code, "redirect_uri": _callback_url(),
        "code_verifier": _derived("pkce", state)}).encode(), {
        "Authorization": f"Basic {basic}",
        "Content-Type": "application/x-www-form-urlencoded"})
    if not isinstance(tokens.get("id_token"), str):
        raise Refused("The provider sent no ID token.", code="sso_refused")
    claims = _id_claims(meta, tokens["id_token"], _derived("nonce", state))
    if "email" not in claims and meta.get("userinfo_endpoint") and tokens.get("access_token"):
        info = _fetch_json(meta["userinfo_endpoint"], headers={
            "Authorization": f"Bearer {tokens['access_token']}"})
        if info.get("sub") == claims["sub"]:  # OIDC Core 5.3.2: the same person only
            claims |= {k: info[k] for k in ("email", "email_verified") if k in info}
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    if email is None or claims.get("email_verified") is not True:
        _refuse(email, "email_not_verified", "The provider did not vouch for an email "
                "address (email_verified), so you were not signed in.")
    with get_db().transaction() as session:
        account = staff.active_account(session, email)
        token = sessions.start_staff(session, account, utcnow(), None) if account else None
    if token is None:
        _refuse(email, "unknown_staff", f"{email} is not an active staff account here, so "
                "you were not signed in. Ask an administrator to add you.")
    # A page, not a redirect: the session's SameSite=Strict cookie is not sent on a
    # redirect chain that began at the provider's site; the click on it is this site's.
    response = _render("console/signed_in.html", target=target, email=account.email)
    response.delete_cookie(STATE_COOKIE, path="/console/oidc", secure=request.is_secure,
                           httponly=True, samesite="Lax")
    return set_session_cookie(response, token, utcnow() + sessions.LIFETIME)
