"""The current-state table always equals replaying the events; many writers lose nothing."""

import threading
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from audit.models import AuditEntry
from consent import ledger
from consent.models import ConsentEvent
from consentry.policy import load_policy

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
