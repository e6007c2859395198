"""Idempotency records: kept 24 hours, then purged; held subjects' records stay."""

from datetime import timedelta

from sqlalchemy import select, update

from consentry import idempotency
from consentry.clock import utcnow
from consentry.db import get_db
from consentry.models import IdempotencyRecord
from consentry.stores import Held


def test_records_older_than_a_day_are_purged_except_held(app, client, make_key):
    key = make_key("admin")
    for n, subject in enumerate(["u-1", "u-2"]):
        client.put(f"/v1/subjects/{subject}/consents", headers={**key, "Idempotency-Key": f"k{n}"},
                   json={"source": "t", "choices": [{"purpose": "analytics", "status": "denied"}]})
    client.post("/v1/decisions", headers={**key, "Idempotency-Key": "d1"}, json={
        "subject_id": "u-3", "surface": "s", "item": {"id": "1"},
        "decided_at": utcnow().isoformat()})
    client.put("/v1/subjects/u-4/consents", headers={**key, "Idempotency-Key": "fresh"},
               json={"source": "t", "choices": [{"purpose": "analytics", "status": "denied"}]})
    with app.app_context(), get_db(app).transaction() as s:
        s.execute(update(IdempotencyRecord).where(IdempotencyRecord.key != "fresh")
                  .values(created_at=utcnow() - idempotency.KEEP - timedelta(seconds=1)))
        result = idempotency.purge_records(s, {}, Held(subject_ids=frozenset({"u-2"})), 100,
                                           False)
    assert (result.deleted, result.held) == (2, 1)
    with app.app_context(), get_db(app).transaction(write=False) as s:
        left = set(s.scalars(select(IdempotencyRecord.key)))
    assert left == {"k1", "fresh"}
