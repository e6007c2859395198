"""Scoped API keys: creation, lookup in constant time, and the `scoped` view decorator."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass

from flask import current_app, g, request
from flask_smorest.utils import load_info_from_docstring
from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.clock import utcnow
from consentry.db import get_db
from consentry.errors import Conflict, DomainError, NotFound
from consentry.models import ApiKey
from consentry.openapi import error_response

SCOPES = (
    "preferences:read",
    "preferences:write",
    "signals:read",
    "decisions:write",
    "explanations:read",
    "retention:admin",
    "erasure:write",
    "audit:read",
    "audit:export",
    "policy:read",
    "recipes:read",
    "recipes:write",
    "reports:read",
    "requests:read",
    "requests:write",
    "admin",
)

# Staff roles: named sets of scopes (API.md "Staff and roles"). A staff session's scopes
# are its role's, checked as a key's are.
_VIEWER = ("policy:read", "preferences:read", "explanations:read", "audit:read",
           "reports:read", "recipes:read", "requests:read")
ROLES: dict[str, frozenset[str]] = {
    "viewer": frozenset(_VIEWER),
    "privacy_officer": frozenset(_VIEWER + ("preferences:write", "requests:write",
                                            "audit:export", "erasure:write")),
    "legal": frozenset(_VIEWER + ("audit:export", "retention:admin")),
    "operator": frozenset(("policy:read", "audit:read", "reports:read", "retention:admin")),
    "admin": frozenset(("admin",)),
}

# Routes that need no key (API.md "Conventions").
OPEN_ENDPOINTS = ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json",
                  "/.well-known/consentry-keys", "/.well-known/gpc.json",
                  # the console's sign-in steps (key, password, TOTP, SSO) need no key: each
                  # needs the step before it (console/account.py, console/oidc.py)
                  "/console/login", "/console/login/totp", "/console/account/password",
                  "/console/account/totp", "/console/oidc/start", "/console/oidc/callback",
                  # the people's pages' look and their 404 page: they name no one
                  "/pages/brand.css", "/pages/brand/logo", "/pages/<path:rest>")

# What a route declares when any valid key (or console session) may use it.
ANY_SCOPE = "any"


@dataclass(frozen=True)
class Principal:
    """The caller a key stands for."""

    name: str
    scopes: frozenset[str]
    key_id: int | None = None

    def has(self, scope: str) -> bool:
        return scope == ANY_SCOPE or "admin" in self.scopes or scope in self.scopes


# What people are shown instead of who wrote: key and staff names are for the audit log.
ROLE_LABELS = (("page-link:", "preference_page"), ("scheduler", "scheduler"),
               ("gpc", "global_privacy_control"))


def role_label(actor: str | None) -> str | None:
    """The role a person is shown for an actor (a key's name, `staff:<email>`, a page
    link's `page-link:<key>`): `preference_page`, `scheduler`, or `staff` for everyone
    who works for the company. The audit log keeps the name."""
    if actor is None:
        return None
    return next((label for prefix, label in ROLE_LABELS if actor.startswith(prefix)),
                "staff")


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, name: str, scopes: list[str]) -> str:
    """Create a key named `name` with `scopes`; return the key (the only time it is seen)."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise DomainError(f"unknown scope(s): {', '.join(unknown)}", status=422,
                          code="validation_error")
    if not scopes:
        raise DomainError("a key needs at least one scope", status=422, code="validation_error")
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise Conflict(f"a key named {name!r} exists already")
    prefix = secrets.token_hex(4)
    key = f"csk_{prefix}_{secrets.token_hex(32)}"
    session.add(ApiKey(name=name, prefix=prefix, key_hash=_hash(key), scopes=sorted(set(scopes)),
                       created_at=utcnow()))
    return key


def list_keys(session: Session) -> list[ApiKey]:
    """Return every key, revoked ones included, oldest first."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, name: str) -> ApiKey:
    """Revoke the key named `name`."""
    key = session.scalar(select(ApiKey).where(ApiKey.name == name))
    if key is None:
        raise NotFound(f"no key named {name!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


class _KeyCache:
    """A short-lived cache of key lookups, so the hot path does not query per request."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    def get(self, key_hash: str, ttl: float) -> tuple[bool, Principal | None]:
        entry = self._entries.get(key_hash)
        if entry and time.monotonic() - entry[0] < ttl:
            return True, entry[1]
        return False, None

    def put(self, key_hash: str, principal: Principal | None) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key_hash] = (time.monotonic(), principal)


_KEY_PREFIX = re.compile(r"[0-9a-f]{8}")  # secrets.token_hex(4) in create_key


def authenticate(key: str) -> Principal | None:
    """Return the principal of a presented key, or None for an unknown or revoked one."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "csk" or not _KEY_PREFIX.fullmatch(parts[1]):
        return None  # never a lookup: only a prefix create_key made can match one
    key_hash = _hash(key)
    cache: _KeyCache = current_app.extensions["consentry.keycache"]
    ttl = current_app.config["API_KEY_CACHE_SECONDS"]
    hit, principal = cache.get(key_hash, ttl)
    if hit:
        return principal
    with get_db().transaction(write=False) as session:
        candidates = session.scalars(select(ApiKey).where(ApiKey.prefix == parts[1])).all()
        principal = None
        for candidate in candidates:
            if hmac.compare_digest(candidate.key_hash, key_hash) and candidate.revoked_at is None:
                principal = Principal(candidate.name, frozenset(candidate.scopes), candidate.id)
    cache.put(key_hash, principal)
    return principal


def principal_of_key(session: Session, key_id: int) -> Principal | None:
    """The principal of the key `key_id` read now, uncached; None once it is revoked.

    For credentials that outlive one request (console sessions): every request checks
    the key again, so revoking it ends them at once.
    """
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return None
    return Principal(key.name, frozenset(key.scopes), key.id)


class _RateLimiter:
    """A token bucket per API key, in this process: `rate` requests a second, bursts of
    twice that. Off when the rate is 0. Each worker process counts on its own."""

    def __init__(self, rate: float, burst: float | None = None):
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, 2 * rate)
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key name → (tokens, at)

    def _tokens(self, name: str, now: float) -> float:
        """`name`'s tokens at `now`, refilled since it last took one (hold the lock)."""
        tokens, at = self._buckets.get(name, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def retry_after(self, name: str) -> float:
        """0 if a request may go now (and take a token), else seconds until one may."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens = self._tokens(name, now)
            if tokens >= 1:
                self._buckets[name] = (tokens - 1, now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (1 - tokens) / self.rate

    def waiting(self, name: str) -> float:
        """Seconds until `name` may go again (0: now), taking nothing from its bucket."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            tokens = self._tokens(name, time.monotonic())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate


def current_principal() -> Principal:
    """Return the authenticated caller of this request."""
    return g.principal


def bearer_key(header: str) -> str | None:
    """The key of an `Authorization: Bearer <key>` header; None when there is none."""
    if not header.startswith("Bearer "):
        return None
    return header[7:].strip() or None


def _require(scopes: tuple[str, ...]) -> None:
    key = bearer_key(request.headers.get("Authorization", ""))
    if key is None:
        raise DomainError("An API key is required: Authorization: Bearer <key>.", status=401,
                          code="unauthorized", headers={"WWW-Authenticate": "Bearer"})
    principal = authenticate(key)
    if principal is None:
        raise DomainError("The API key is unknown or revoked.", status=401,
                          code="unauthorized", headers={"WWW-Authenticate": "Bearer"})
    g.principal = principal
    wait = current_app.extensions["consentry.ratelimit"].retry_after(principal.name)
    if wait > 0:
        raise DomainError("Too many requests for this API key; slow down.", status=429,
                          code="rate_limited",
                          headers={"Retry-After": str(max(1, round(wait + 0.5)))})
    if not any(principal.has(scope) for scope in scopes):
        raise DomainError(f"This key lacks the scope {describe_scopes(scopes)}.", status=403,
                          code="forbidden")


def describe_scopes(scopes: tuple[str, ...]) -> str:
    """`'a'`, or `'a' or 'b'`: the scopes a route accepts, for messages and docs."""
    return " or ".join(repr(s) for s in scopes)


def scoped(*scopes: str):
    """Require a key with one of `scopes` (or `admin`) before the view runs; document it."""
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        raise ValueError(f"unknown scope(s) {unknown!r}")
    scope = scopes[0]

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            _require(scopes)
            return view(*args, **kwargs)

        wrapper.required_scope = scope
        wrapper.accepted_scopes = scopes
        apidoc = dict(getattr(view, "_apidoc", {}))
        manual = dict(apidoc.get("manual_doc", {}))
        manual["security"] = [{"apiKey": []}]
        # The key lookup reads the database: unreachable, it is a 503 with Retry-After.
        manual["responses"] = {**manual.get("responses", {}),
                               **{s: error_response(s) for s in (401, 403, 429, 503)}}
        # The docstring's description would be replaced by this one: keep it in front.
        described = manual.get("description") or load_info_from_docstring(
            view.__doc__).get("description", "")
        accepted = " or ".join(f"`{s}`" for s in scopes)
        manual["description"] = "\n\n".join(
            part for part in (described, f"Requires scope {accepted}.") if part)
        apidoc["manual_doc"] = manual
        wrapper._apidoc = apidoc
        return wrapper

    return decorator


class _SharedRateLimiter(_RateLimiter):
    """The same token bucket, kept in Redis, so that every process on every host draws
    from one bucket per name (CONSENTRY_RATE_LIMIT_STORE). The bucket is updated
    atomically by a script on the Redis server, on the server's clock. While Redis cannot
    be reached, each process falls back to its own bucket (and logs it): limited, not
    stopped."""

    # KEYS[1]: the bucket; ARGV: rate, burst. Returns the wait in microseconds (0: go).
    SCRIPT = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or t
tokens = math.min(burst, tokens + math.max(0, t - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(t))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return math.floor(wait * 1e6)
"""

    # The same arithmetic, reading the bucket without taking from it.
    PEEK = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or t
tokens = math.min(burst, tokens + math.max(0, t - at) * rate)
if tokens >= 1 then return 0 end
return math.floor((1 - tokens) / rate * 1e6)
"""

    def __init__(self, rate: float, url: str, prefix: str = "consentry:ratelimit:",
                 burst: float | None = None):
        super().__init__(rate, burst)
        import redis  # only deployments with a shared store need it

        self._redis = redis.Redis.from_url(url, socket_timeout=0.25,
                                           socket_connect_timeout=0.25)
        self._script = self._redis.register_script(self.SCRIPT)
        self._peek = self._redis.register_script(self.PEEK)
        self._prefix = prefix
        self._errors = (redis.RedisError, OSError)

    def retry_after(self, name: str) -> float:
        if self.rate <= 0:
            return 0.0
        try:
            wait = self._script(keys=[self._prefix + name], args=[self.rate, self.burst])
        except self._errors:
            logging.getLogger("consentry.auth").warning(
                "rate limit store unreachable: this process counts on its own")
            return super().retry_after(name)
        return int(wait) / 1e6

    def waiting(self, name: str) -> float:
        if self.rate <= 0:
            return 0.0
        try:
            wait = self._peek(keys=[self._prefix + name], args=[self.rate, self.burst])
        except self._errors:
            return super().waiting(name)
        return int(wait) / 1e6


def rate_limiter(rate: float, store: str | None, burst: float | None = None,
                 prefix: str = "consentry:ratelimit:") -> _RateLimiter:
    """The limiter every rate limit uses: in this process, or shared through `store`."""
    if store and rate > 0:
        return _SharedRateLimiter(rate, store, prefix, burst)
    return _RateLimiter(rate, burst)


def init_app(app) -> None:
    app.extensions["consentry.keycache"] = _KeyCache()
    app.extensions["consentry.ratelimit"] = rate_limiter(
        float(app.config["RATE_LIMIT_PER_SECOND"]), app.config["RATE_LIMIT_STORE"])
    # Failed console sign-ins (a wrong key, password or code), per account and per
    # address: SIGN_IN_FAILURES at once, then one more every SIGN_IN_FAILURE_SECONDS.
    every = float(app.config["SIGN_IN_FAILURE_SECONDS"])
    app.extensions["consentry.signin_failures"] = rate_limiter(
        1 / every if every > 0 else 0.0, app.config["RATE_LIMIT_STORE"],  # 0: off
        burst=float(app.config["SIGN_IN_FAILURES"]), prefix="consentry:signin-failures:")
