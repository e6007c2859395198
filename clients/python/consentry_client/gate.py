"""An engine's client for the signal gate, with a local cache kept exact by the change feed.

    client = GateClient("http://consentry:8000", api_key)
    answer = client.allowed_signals("u-42", "personalization", "web")
    answer.allowed, answer.denied, answer.degraded

Answers are cached per (subject, purpose, channel, jurisdiction). `sync()` follows
`/v1/changes` and drops the cached answers of every subject that changed; it runs
before a lookup when the last sync is older than `sync_interval` seconds, so a
cached answer is never older than that plus the feed's own lag: a change enters
`/v1/changes` when the service's audit sequencer integrates the write, about
`CONSENTRY_AUDIT_SEQUENCE_SECONDS` (50 ms by default) after it committed. A cached
answer also expires after the `max_age` the service gave it (the policy's token
lifetime), so a client that was cut off from the feed for longer than the feed is
kept still cannot serve stale answers.
An answer that was on its way while a `sync()` saw its subject change is returned but
not cached (it may predate the change).

**It fails closed.** While the service cannot be reached (a lookup or a sync fails),
a cached answer is still served until its `max_age` runs out, marked `degraded`; a
subject with no valid cached answer gets nothing allowed (also `degraded`). A lookup the
service refuses (a 4xx: a revoked key, a missing scope, an unknown purpose) answers
nothing allowed, `degraded`, with the refusal as its `reason`, unless the client was made
with `raise_on_refusal=True`, when it raises ConsentryError. The cache is never dropped
because the service is away, and the client never guesses from defaults.

`verify(token, subject_id, purpose)` checks a token offline: signed by the service's
published keys, unexpired, issued by `issuer` (by default the base URL: pass the
deployment's `CONSENTRY_PUBLIC_URL` when the client reaches it by another address), and
for the subject and purpose the caller expects.

`verify_webhook(secrets, headers, body)` checks a `consent.changed` (or any) webhook
from the service and drops the cached answers of the subject it names, so an engine
subscribed to webhooks learns of a change without waiting for its next sync.

`check_batch` asks for many subjects in one call (fail-closed alike), `record_decision`
records what an engine showed, and `decisions()` buffers decisions and sends them in
batches (`consentry_client.decisions.DecisionBuffer`).

Needs only the standard library (and, for `verify`, `cryptography`).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from consentry_client.signing import SignatureError, UnknownKeyError
from consentry_client.tokens import verify_token
from consentry_client.webhooks import verify_webhook

DEFAULT_MAX_AGE = 300.0  # seconds, when an answer does not say
KEYS_REFETCH_SECONDS = 5.0  # the least time between two fetches of the keys for an unknown kid
MAX_BATCH = 1000  # subjects per /v1/signals/check, decisions per /v1/decisions/batch


class GateUnavailable(Exception):
    """The service could not be reached or answered with a server error."""


class ConsentryError(Exception):
    """The service refused a request (4xx): its error `code`, `message` and `fields`."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        super().__init__(f"HTTP {status} {code}: {message}" + (f" {fields}" if fields else ""))
        self.status, self.code, self.message, self.fields = status, code, message, fields or {}


def rfc3339(moment: datetime | None = None) -> str:
    """A UTC timestamp as the API writes them (now when None)."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
class _Pending:
    """Lookups of one subject on their way; `stale` once a sync dropped the subject."""

    count: int = 0
    stale: bool = False


@dataclass
class _Cache:
    answers: dict[tuple, tuple[Answer, float]] = field(default_factory=dict)  # (answer, expiry)
    by_subject: dict[str, set[tuple]] = field(default_factory=dict)


class GateClient:
    """A cached, fail-closed client of Consentry's signal gate."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 2.0,
                 sync_interval: float = 1.0, issuer: str | None = None,
                 raise_on_refusal: bool = False):
        self.base_url = base_url.rstrip("/")
        # `verify` checks each token's `iss` against it: never unchecked.
        self.issuer = issuer if issuer is not None else self.base_url
        self.raise_on_refusal = raise_on_refusal  # a 4xx raises instead of a degraded answer
        self.api_key = api_key
        self.timeout = timeout
        self.sync_interval = sync_interval
        self._cache = _Cache()
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._cursor: str | None = None
        self._last_sync = 0.0
        self._jwks: dict | None = None
        self._jwks_fetched = float("-inf")

    # -- HTTP ------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict | None = None,
                 headers: dict | None = None) -> dict:
        """One call; GateUnavailable when unreachable or 5xx, ConsentryError for a 4xx."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method,
            headers={"Authorization": f"Bearer {self.api_key}",
                     "Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise GateUnavailable(f"HTTP {exc.code}") from exc
            try:
                error = json.loads(exc.read())["error"]
            except (ValueError, KeyError, TypeError, OSError):
                error = {}
            raise ConsentryError(exc.code, str(error.get("code", "error")),
                                 str(error.get("message", exc.reason)),
                                 error.get("fields")) from exc
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
                for pending in self._pending.values():
                    pending.stale = True
            return 0
        seen = 0
        while True:
            query = urllib.parse.urlencode({"after": self._cursor, "limit": 1000})
            page = self._request("GET", f"/v1/changes?{query}")
            with self._lock:
                for change in page["changes"]:
                    for key in self._cache.by_subject.pop(change["subject_id"], ()):
                        self._cache.answers.pop(key, None)
                    pending = self._pending.get(change["subject_id"])
                    if pending is not None:  # an answer on its way may predate the change
                        pending.stale = True
            seen += len(page["changes"])
            self._cursor = page["next"]
            if len(page["changes"]) < 1000:
                break
        self._last_sync = time.monotonic()
        return seen

    def verify_webhook(self, secrets, headers, body) -> dict:
        """Verify a Consentry webhook (consentry_client.webhooks.verify_webhook), then
        drop the cached answers of the subject it names, as the change feed would; return
        the event. A delivery that does not verify raises and drops nothing."""
        event = verify_webhook(secrets, headers, body)
        subject_id = (event.get("data") or {}).get("subject_id")
        if isinstance(subject_id, str):
            with self._lock:
                for key in self._cache.by_subject.pop(subject_id, ()):
                    self._cache.answers.pop(key, None)
                pending = self._pending.get(subject_id)
                if pending is not None:
                    pending.stale = True
        return event

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
            with self._lock:
                pending = self._pending.setdefault(subject_id, _Pending())
                pending.count += 1
            try:
                body = self._request("GET", f"/v1/subjects/{urllib.parse.quote(subject_id)}"
                                            f"/allowed-signals?{urllib.parse.urlencode(query)}")
            except BaseException:
                with self._lock:
                    self._arrived(subject_id, pending)
                raise
        except GateUnavailable as exc:
            return self.unavailable(subject_id, purpose, channel, jurisdiction, str(exc))
        except ConsentryError as exc:
            if self.raise_on_refusal:
                raise
            return self.refused(subject_id, purpose, channel, exc)
        answer = Answer(subject_id, purpose, channel, tuple(body["allowed"]),
                        tuple((d["category"], d["reason"]) for d in body["denied"]),
                        body["policy_version"], body.get("token"))
        expires = time.monotonic() + float(body.get("max_age", DEFAULT_MAX_AGE))
        with self._lock:  # one hold: no sync can slip between the check and the store
            self._arrived(subject_id, pending)
            # An answer the feed said changed while it was on its way: returned, not cached.
            if not pending.stale:
                self._cache.answers[key] = (answer, expires)
                self._cache.by_subject.setdefault(subject_id, set()).add(key)
        return answer

    def _arrived(self, subject_id: str, pending: _Pending) -> None:
        """One lookup of `subject_id` is no longer on its way (call with the lock held)."""
        pending.count -= 1
        if pending.count == 0 and self._pending.get(subject_id) is pending:
            del self._pending[subject_id]

    def check_batch(self, subjects: list[str], purpose: str, channel: str | None = None,
                    categories: list[str] | None = None,
                    jurisdiction: str | None = None) -> dict[str, Answer]:
        """Which categories may be used, for many subjects (`POST /v1/signals/check`, in
        calls of up to 1,000). Fails closed as `allowed_signals` does: while the service
        is away each subject gets its valid cached answer (narrowed to `categories`),
        else nothing, marked degraded."""
        subjects = list(dict.fromkeys(subjects))
        answers: dict[str, Answer] = {}
        for start in range(0, len(subjects), MAX_BATCH):
            chunk = subjects[start:start + MAX_BATCH]
            body = {"purpose": purpose, "channel": channel, "subjects": chunk,
                    "jurisdiction": jurisdiction, "categories": categories}
            try:
                page = self._request("POST", "/v1/signals/check", body)
            except ConsentryError as exc:
                if self.raise_on_refusal:
                    raise
                for sid in chunk:
                    answers[sid] = self.refused(sid, purpose, channel, exc)
                continue
            except GateUnavailable as exc:
                for sid in chunk:
                    answer = self.unavailable(sid, purpose, channel, jurisdiction, str(exc))
                    if categories is not None:
                        answer = replace(answer, allowed=tuple(
                            c for c in answer.allowed if c in categories))
                    answers[sid] = answer
                continue
            for sid in chunk:
                result = page["results"][sid]
                answers[sid] = Answer(sid, purpose, channel, tuple(result["allowed"]),
                                      tuple((d["category"], d["reason"])
                                            for d in result["denied"]),
                                      page["policy_version"])
        return answers

    # -- decisions ----------------------------------------------------------------------
    def record_decision(self, subject_id: str, surface: str, item: dict, *,
                        purpose: str = "personalization", channel: str | None = None,
                        signals_used: list[dict] = (), rule: dict | None = None,
                        decided_at: datetime | str | None = None,
                        recipe_id: str | None = None,
                        idempotency_key: str | None = None) -> dict:
        """Record what was shown and why (`POST /v1/decisions`); its
        `{"decision_id", "conformant", "violations"}`. A retry with the same
        `idempotency_key` records nothing new. GateUnavailable or ConsentryError."""
        decision = decision_body(subject_id, surface, item, purpose=purpose, channel=channel,
                                 signals_used=signals_used, rule=rule, decided_at=decided_at,
                                 recipe_id=recipe_id)
        return self._request("POST", "/v1/decisions", decision,
                             {"Idempotency-Key": idempotency_key or uuid.uuid4().hex})

    def record_decisions(self, decisions: list[dict],
                         idempotency_key: str | None = None) -> list[dict]:
        """Record up to 1,000 decisions in one call (`POST /v1/decisions/batch`): all or
        none. Their results in the same order."""
        if not 0 < len(decisions) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH} decisions")
        answer = self._request("POST", "/v1/decisions/batch", {"decisions": decisions},
                               {"Idempotency-Key": idempotency_key or uuid.uuid4().hex})
        return answer["results"]

    def decisions(self, **options):
        """A buffer that sends decisions in batches: `with client.decisions() as d:
        d.add(...)`. Options: see `DecisionBuffer`."""
        from consentry_client.decisions import DecisionBuffer

        return DecisionBuffer(self, **options)

    def unavailable(self, subject_id: str, purpose: str, channel: str | None,
                    jurisdiction: str | None, why: str) -> Answer:
        """Fail closed: the cached answer while its max_age lasts, else nothing allowed;
        either way marked degraded."""
        reason = f"service unreachable: {why}"
        hit = self.cached(subject_id, purpose, channel, jurisdiction)
        if hit is not None:
            return replace(hit, degraded=True, reason=reason)
        return Answer(subject_id, purpose, channel, (), (), "", degraded=True, reason=reason)

    @staticmethod
    def refused(subject_id: str, purpose: str, channel: str | None,
                error: ConsentryError) -> Answer:
        """Fail closed on a refusal (4xx): nothing allowed, degraded, the cache not
        consulted (a revoked key must not go on being answered from it)."""
        return Answer(subject_id, purpose, channel, (), (), "", degraded=True,
                      reason=f"refused: {error}")

    def _fetch_keys(self) -> dict:
        request = urllib.request.Request(self.base_url + "/.well-known/consentry-keys")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            self._jwks = json.loads(response.read())
        self._jwks_fetched = time.monotonic()
        return self._jwks

    def verify(self, token: str, subject_id: str, purpose: str) -> dict:
        """Verify a consent token offline: signed by the service's keys, unexpired, issued
        by `issuer`, and for `subject_id` and `purpose` (SignatureError for a token about
        anyone or anything else). The keys are fetched once, and again for a key id they
        lack (the service rotated its key), at most every KEYS_REFETCH_SECONDS."""
        jwks = self._jwks if self._jwks is not None else self._fetch_keys()
        try:
            claims = verify_token(token, jwks, issuer=self.issuer)
        except UnknownKeyError:
            if time.monotonic() - self._jwks_fetched < KEYS_REFETCH_SECONDS:
                raise
            claims = verify_token(token, self._fetch_keys(), issuer=self.issuer)
        if claims.get("sub") != subject_id:
            raise SignatureError(f"token for another subject: {claims.get('sub')!r}, "
                                 f"not {subject_id!r}")
        if claims.get("purpose") != purpose:
            raise SignatureError(f"token for another purpose: {claims.get('purpose')!r}, "
                                 f"not {purpose!r}")
        return claims


def decision_body(subject_id: str, surface: str, item: dict, *,
                  purpose: str = "personalization", channel: str | None = None,
                  signals_used: list[dict] = (), rule: dict | None = None,
                  decided_at: datetime | str | None = None,
                  recipe_id: str | None = None) -> dict:
    """A decision as `POST /v1/decisions` takes it (`decided_at` now when not given)."""
    body = {"subject_id": subject_id, "surface": surface, "purpose": purpose,
            "channel": channel, "item": item, "signals_used": list(signals_used),
            "decided_at": decided_at if isinstance(decided_at, str) else rfc3339(decided_at)}
    if rule is not None:
        body["rule"] = rule
    if recipe_id is not None:
        body["recipe_id"] = recipe_id
    return body
