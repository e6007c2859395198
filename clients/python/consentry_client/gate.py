"""An engine's client for the signal gate, with a local cache kept exact by the change feed.

    client = GateClient("http://consentry:8000", api_key)
    answer = client.allowed_signals("u-42", "personalization", "web")
    answer.allowed, answer.denied, answer.degraded

Answers are cached per (subject, purpose, channel, jurisdiction). `sync()` follows
`/v1/changes` and drops the cached answers of every subject that changed; it runs
before a lookup when the last sync is older than `sync_interval` seconds, so a
cached answer is never older than that. A cached answer also expires after the
`max_age` the service gave it (the policy's token lifetime), so a client that was cut
off from the feed for longer than the feed is kept still cannot serve stale answers.
**It fails closed.** While the service cannot be reached (a lookup or a sync fails),
a cached answer is still served until its `max_age` runs out, marked `degraded`; a
subject with no valid cached answer gets nothing allowed (also `degraded`). The cache
is never dropped because the service is away, and the client never guesses from
defaults.

Needs only the standard library (and, for `verify`, `cryptography`).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field, replace

from consentry_client.signing import UnknownKeyError
from consentry_client.tokens import verify_token

DEFAULT_MAX_AGE = 300.0  # seconds, when an answer does not say
KEYS_REFETCH_SECONDS = 5.0  # the least time between two fetches of the keys for an unknown kid


class GateUnavailable(Exception):
    """The service could not be reached or answered with a server error."""


@dataclass(frozen=True)
class Answer:
    subject_id: str
    purpose: str
    channel: str | None
    allowed: tuple[str, ...]
    denied: tuple[tuple[str, str], ...]  # (category, reason)
    policy_version: str
    token: str | None = None
    degraded: bool = False
    reason: str | None = None  # why degraded


@dataclass
class _Cache:
    answers: dict[tuple, tuple[Answer, float]] = field(default_factory=dict)  # (answer, expiry)
    by_subject: dict[str, set[tuple]] = field(default_factory=dict)


class GateClient:
    """A cached, fail-closed client of Consentry's signal gate."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 2.0,
                 sync_interval: float = 1.0):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.sync_interval = sync_interval
        self._cache = _Cache()
        self._lock = threading.Lock()
        self._cursor: str | None = None
        self._last_sync = 0.0
        self._jwks: dict | None = None
        self._jwks_fetched = float("-inf")

    # -- HTTP ------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method,
            headers={"Authorization": f"Bearer {self.api_key}",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                raise GateUnavailable(f"HTTP {exc.code}") from exc
            raise
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise GateUnavailable(str(exc)) from exc

    # -- cache -------------------------------------------------------------------------
    def sync(self) -> int:
        """Follow the change feed; drop cached answers of changed subjects. Returns changes."""
        if self._cursor is None:
            self._cursor = self._request("GET", "/v1/changes?after=head")["next"]
            self._last_sync = time.monotonic()
            with self._lock:  # nothing cached from before we knew the head can be trusted
                self._cache = _Cache()
            return 0
        seen = 0
        while True:
            query = urllib.parse.urlencode({"after": self._cursor, "limit": 1000})
            page = self._request("GET", f"/v1/changes?{query}")
            with self._lock:
                for change in page["changes"]:
                    for key in self._cache.by_subject.pop(change["subject_id"], ()):
                        self._cache.answers.pop(key, None)
            seen += len(page["changes"])
            self._cursor = page["next"]
            if len(page["changes"]) < 1000:
                break
        self._last_sync = time.monotonic()
        return seen

    def cached(self, subject_id: str, purpose: str, channel: str | None = None,
               jurisdiction: str | None = None) -> Answer | None:
        """The cached answer, if any and not expired (the hot path: a dictionary lookup)."""
        hit = self._cache.answers.get((subject_id, purpose, channel, jurisdiction))
        if hit is None or hit[1] <= time.monotonic():
            return None
        return hit[0]

    def allowed_signals(self, subject_id: str, purpose: str, channel: str | None = None,
                        jurisdiction: str | None = None) -> Answer:
        """Which categories may be used; from cache when fresh, else from the service."""
        key = (subject_id, purpose, channel, jurisdiction)
        try:
            now = time.monotonic()
            if now - self._last_sync > self.sync_interval:
                self.sync()
            hit = self._cache.answers.get(key)  # the hot path: one lookup, one clock read
            if hit is not None and hit[1] > now:
                return hit[0]
            query = {"purpose": purpose}
            if channel:
                query["channel"] = channel
            if jurisdiction:
                query["jurisdiction"] = jurisdiction
            body = self._request("GET", f"/v1/subjects/{urllib.parse.quote(subject_id)}"
                                        f"/allowed-signals?{urllib.parse.urlencode(query)}")
        except GateUnavailable as exc:
            return self.unavailable(subject_id, purpose, channel, jurisdiction, str(exc))
        answer = Answer(subject_id, purpose, channel, tuple(body["allowed"]),
                        tuple((d["category"], d["reason"]) for d in body["denied"]),
                        body["policy_version"], body.get("token"))
        expires = time.monotonic() + float(body.get("max_age", DEFAULT_MAX_AGE))
        with self._lock:
            self._cache.answers[key] = (answer, expires)
            self._cache.by_subject.setdefault(subject_id, set()).add(key)
        return answer

    def unavailable(self, subject_id: str, purpose: str, channel: str | None,
                    jurisdiction: str | None, why: str) -> Answer:
        """Fail closed: the cached answer while its max_age lasts, else nothing allowed;
        either way marked degraded."""
        reason = f"service unreachable: {why}"
        hit = self.cached(subject_id, purpose, channel, jurisdiction)
        if hit is not None:
            return replace(hit, degraded=True, reason=reason)
        return Answer(subject_id, purpose, channel, (), (), "", degraded=True, reason=reason)

    def _fetch_keys(self) -> dict:
        request = urllib.request.Request(self.base_url + "/.well-known/consentry-keys")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            self._jwks = json.loads(response.read())
        self._jwks_fetched = time.monotonic()
        return self._jwks

    def verify(self, token: str) -> dict:
        """Verify a consent token offline. The keys are fetched once, and again for a key id
        they lack (the service rotated its key), at most every KEYS_REFETCH_SECONDS."""
        jwks = self._jwks if self._jwks is not None else self._fetch_keys()
        try:
            return verify_token(token, jwks)
        except UnknownKeyError:
            if time.monotonic() - self._jwks_fetched < KEYS_REFETCH_SECONDS:
                raise
            return verify_token(token, self._fetch_keys())
