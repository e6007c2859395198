"""The Python GateClient's trust rules against a served Consentry (issue 21): an answer
that was on its way while the feed reported a change is not cached; `verify` checks the
issuer by default and the subject and purpose it is given; a refusal (4xx) answers nothing
allowed, degraded, unless the caller asked for exceptions."""

from __future__ import annotations

import threading

import pytest
from consentry_client import ConsentryError, GateClient, SignatureError

ISSUER = "https://consent.example.test"
GRANTED = [{"purpose": "personalization", "status": "granted"}]
DENIED = [{"purpose": "personalization", "status": "denied"}]


@pytest.fixture
def app(make_app):
    return make_app(PUBLIC_URL=ISSUER)


@pytest.fixture
def consent(client, make_key):
    writer = make_key("preferences:write")

    def put(subject_id, choices):
        r = client.put(f"/v1/subjects/{subject_id}/consents", headers=writer,
                       json={"source": "t", "jurisdiction": "EU", "choices": choices})
        assert r.status_code == 200, r.get_json()

    return put


@pytest.fixture
def engine_key(make_key):
    return make_key("signals:read")["Authorization"].removeprefix("Bearer ")


class PausedGate(GateClient):
    """A GateClient whose next allowed-signals answer, once fetched, waits for `go`
    before the client stores it: the interleaving of issue 21, item 1, made exact."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pause_next = False
        self.fetched, self.go = threading.Event(), threading.Event()

    def _request(self, method, path, body=None, headers=None):
        answer = super()._request(method, path, body, headers)
        if self.pause_next and "/allowed-signals" in path:
            self.pause_next = False
            self.fetched.set()
            assert self.go.wait(30), "the test never let the lookup go on"
        return answer


def _lookup_in_a_thread(gate: PausedGate, subject_id: str):
    result = {}
    gate.pause_next = True
    thread = threading.Thread(target=lambda: result.setdefault(
        "answer", gate.allowed_signals(subject_id, "personalization", "web")))
    thread.start()
    assert gate.fetched.wait(30)
    return thread, result


def test_an_answer_fetched_before_a_change_the_feed_reported_is_returned_not_cached(
        live_server, engine_key, consent):
    consent("race-1", GRANTED)
    gate = PausedGate(live_server, engine_key, sync_interval=3600)
    gate.sync()  # from the head on
    thread, result = _lookup_in_a_thread(gate, "race-1")  # the grant is on its way ...
    consent("race-1", DENIED)  # ... the person withdraws ...
    assert gate.sync() == 1  # ... and the feed says so before the answer is stored
    gate.go.set()
    thread.join(30)
    assert "behavioral" in result["answer"].allowed  # what the service said, returned
    assert gate.cached("race-1", "personalization", "web") is None  # but not kept
    fresh = gate.allowed_signals("race-1", "personalization", "web")
    assert "behavioral" not in fresh.allowed and not fresh.degraded
    assert gate.cached("race-1", "personalization", "web") == fresh


def test_an_answer_is_still_cached_when_the_feed_reported_only_other_subjects(
        live_server, engine_key, consent):
    consent("calm-1", GRANTED)
    gate = PausedGate(live_server, engine_key, sync_interval=3600)
    gate.sync()
    thread, result = _lookup_in_a_thread(gate, "calm-1")
    consent("calm-2", DENIED)
    assert gate.sync() == 1
    gate.go.set()
    thread.join(30)
    assert gate.cached("calm-1", "personalization", "web") == result["answer"]


def test_verify_checks_the_issuer_by_default_and_the_subject_and_purpose(
        live_server, engine_key, consent):
    consent("tok-1", GRANTED)
    token = GateClient(live_server, engine_key).allowed_signals(
        "tok-1", "personalization", "web").token
    by_default = GateClient(live_server, engine_key)
    assert by_default.issuer == live_server  # never unchecked
    with pytest.raises(SignatureError, match="issuer"):  # the service says it is ISSUER
        by_default.verify(token, "tok-1", "personalization")
    gate = GateClient(live_server, engine_key, issuer=ISSUER)
    assert gate.verify(token, "tok-1", "personalization")["sub"] == "tok-1"
    with pytest.raises(SignatureError, match="subject"):
        gate.verify(token, "tok-2", "personalization")
    with pytest.raises(SignatureError, match="purpose"):
        gate.verify(token, "tok-1", "marketing")


def test_a_refusal_answers_nothing_allowed_degraded_unless_exceptions_are_asked_for(
        live_server, engine_key, consent):
    consent("ref-1", GRANTED)
    gate = GateClient(live_server, engine_key, sync_interval=3600)
    refused = gate.allowed_signals("ref-1", "telepathy", "web")  # an unknown purpose: 422
    assert refused.degraded and refused.allowed == () and refused.token is None
    assert refused.reason.startswith("refused: HTTP 422")
    batch = gate.check_batch(["ref-1", "ref-2"], "telepathy", "web")
    assert all(a.degraded and a.allowed == () for a in batch.values())
    assert "behavioral" in gate.allowed_signals("ref-1", "personalization", "web").allowed
    # a key the service no longer knows: nothing allowed, even with an answer in the cache
    gate.api_key = "csk_gone_000000000000"
    gate.sync_interval = 0  # the next lookup syncs first, and the sync is refused
    revoked = gate.allowed_signals("ref-1", "personalization", "web")
    assert revoked.degraded and revoked.allowed == ()
    assert revoked.reason.startswith("refused: HTTP 401")
    strict = GateClient(live_server, engine_key, raise_on_refusal=True)
    with pytest.raises(ConsentryError) as caught:
        strict.allowed_signals("ref-1", "telepathy", "web")
    assert caught.value.status == 422
    with pytest.raises(ConsentryError):
        strict.check_batch(["ref-1"], "telepathy", "web")
