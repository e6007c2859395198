"""The current-state table always equals replaying the events; many writers lose nothing."""

import threading
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from audit.models import AuditEntry
from consent import ledger
from consent.gate import evaluate
from consent.models import ConsentEvent, StateSnapshot
from consent.state import fold
from consentry.policy import load_policy
from tests.consent.precedence_model import Said, expected

POLICY = load_policy()

choices = st.fixed_dictionaries({
    "purpose": st.sampled_from(sorted(POLICY.purposes)),
    "status": st.sampled_from(["granted", "denied", "withdrawn"]),
}, optional={
    "category": st.sampled_from(sorted(POLICY.categories)),
    "channel": st.sampled_from(sorted(POLICY.channels)),
})
writes = st.one_of(
    st.tuples(st.just("put"), st.lists(choices, min_size=1, max_size=4),
              st.sampled_from([None, "EU", "US-CA", "DEFAULT"]), st.booleans()),
    st.tuples(st.just("opt_out"), st.sampled_from(["personalization", "sale_sharing", "all"]),
              st.booleans(), st.booleans()),
)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(writes, min_size=1, max_size=8))
def test_state_table_equals_replay(client, writer, session, sequence):
    subject = f"s-{uuid.uuid4().hex[:12]}"
    for write in sequence:
        if write[0] == "put":
            _, chosen, jurisdiction, gpc = write
            body = {"source": "test", "choices": chosen}
            if jurisdiction:
                body["jurisdiction"] = jurisdiction
            r = client.put(f"/v1/subjects/{subject}/consents", json=body,
                           headers={**writer, **({"Sec-GPC": "1"} if gpc else {})})
        else:
            _, scope, on, gpc = write
            headers = {**writer, **({"Sec-GPC": "1"} if gpc else {})}
            url = f"/v1/subjects/{subject}/opt-out"
            r = (client.post(url, json={"scope": scope}, headers=headers) if on
                 else client.delete(f"{url}?scope={scope}", headers=headers))
        assert r.status_code == 200, r.get_json()
    session.rollback()
    assert ledger.load_state(session, subject) == ledger.replay_state(session, subject)


def test_concurrent_writers_on_one_subject_lose_nothing(app, writer, session):
    statuses = ["granted", "denied", "withdrawn"]
    errors = []

    def write(n):
        client = app.test_client()
        for i in range(8):
            choice = {"purpose": "personalization", "category": "behavioral",
                      "status": statuses[(n + i) % 3]}
            r = client.put("/v1/subjects/shared/consents",
                           json={"source": f"w{n}", "choices": [choice]}, headers=writer)
            if r.status_code != 200:
                errors.append(r.get_json())

    threads = [threading.Thread(target=write, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 40
    seqs = session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)).all()
    assert seqs == list(range(1, len(seqs) + 1))
    assert ledger.load_state(session, "shared") == ledger.replay_state(session, "shared")


def test_a_replay_starts_from_the_latest_snapshot_before_the_moment(app, client, writer,
                                                                     session, monkeypatch):
    monkeypatch.setattr(ledger, "SNAPSHOT_EVERY", 5)
    statuses = ["granted", "denied", "withdrawn"]
    moments = []
    for i in range(23):
        r = client.put("/v1/subjects/snap/consents", headers=writer, json={
            "source": "test", "choices": [
                {"purpose": "personalization", "category": "behavioral",
                 "status": statuses[i % 3]},
                {"purpose": "marketing", "channel": "email", "status": statuses[(i + 1) % 3]}]})
        assert r.status_code == 200
        moments.append(r.get_json()["receipt"]["issued_at"])
    session.rollback()
    assert session.scalar(select(func.count()).select_from(StateSnapshot)
                          .where(StateSnapshot.subject_id == "snap")) == 4  # writes 5,10,15,20
    read = []
    real = ledger._to_event
    monkeypatch.setattr(ledger, "_to_event", lambda row: read.append(row.id) or real(row))
    for moment in moments:
        at = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        read.clear()
        from_snapshot = ledger.replay_state(session, "snap", at)
        assert len(read) <= 2 * 4  # at most four writes of two events since the snapshot
        events = session.scalars(select(ConsentEvent).where(
            ConsentEvent.subject_id == "snap", ConsentEvent.occurred_at <= at)
            .order_by(ConsentEvent.occurred_at, ConsentEvent.id))
        assert from_snapshot == fold(real(e) for e in events)  # the same as a full replay
    assert ledger.replay_state(session, "snap") == ledger.load_state(session, "snap")


_scoped = st.fixed_dictionaries({
    "purpose": st.sampled_from(["marketing", "advertising"]),
    "status": st.sampled_from(["granted", "denied", "withdrawn"]),
}, optional={
    "category": st.sampled_from(["declared", "behavioral", "health"]),
    "channel": st.sampled_from(["email", "web"]),
})
_writes = st.one_of(
    st.lists(_scoped, min_size=1, max_size=4,
             unique_by=lambda c: (c["purpose"], c.get("category"), c.get("channel"))),
    st.just("reject_all"))


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(_writes, min_size=1, max_size=6))
def test_the_gate_over_replay_state_follows_the_precedence_model(client, writer, session,
                                                                  sequence):
    """Random writes through the API; `evaluate` over `replay_state` answers as the
    independent model of the precedence rule (tests/consent/precedence_model.py) does."""
    subject = f"s-{uuid.uuid4().hex[:12]}"
    said = []
    for n, write in enumerate(sequence):
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n)  # writes in order
        if write == "reject_all":
            r = client.post(f"/v1/subjects/{subject}/consents/reject-all",
                            json={"source": "test", "jurisdiction": "EU"}, headers=writer)
            said += [Said(p, None, None, "denied", at) for p in POLICY.purposes]
        else:
            r = client.put(f"/v1/subjects/{subject}/consents", headers=writer,
                           json={"source": "test", "jurisdiction": "EU", "choices": write})
            said += [Said(c["purpose"], c.get("category"), c.get("channel"), c["status"], at)
                     for c in write]
        assert r.status_code == 200, r.get_json()
    session.rollback()
    state = ledger.replay_state(session, subject)
    now = datetime.now(UTC)
    for purpose in ("marketing", "advertising"):
        for channel in (None, "email", "web", "sms"):
            answer = evaluate(state, POLICY, purpose, channel,
                              ["declared", "behavioral", "health"], now)
            for v in answer.verdicts:
                assert (v.allowed, v.reason) == expected(
                    said, POLICY, "EU", purpose, v.category, channel)[:2], (purpose, channel)
