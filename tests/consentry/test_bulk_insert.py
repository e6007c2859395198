"""db.BulkInsert stores what SQLAlchemy's own insert stores, value for value, on both engines."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select

from consent.models import ConsentEvent, Decision
from consentry.db import BulkInsert, get_db


@pytest.fixture
def session(app):
    """A writing transaction (committed; the next test starts from empty tables)."""
    with app.app_context(), get_db(app).transaction() as s:
        yield s


def decision_row(**values) -> dict:
    row = {"decision_id": str(uuid.uuid4()), "subject_id": "s-1", "surface": "home",
           "channel": None, "purpose": "personalization",
           "item": {"id": "sku", "label": "Schuhe \u00e9\u4e2d", "n": 2**53 - 1},
           "signals_used": [{"category": "behavioral", "summary": None}],
           "rule": None, "decided_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
           "recorded_at": datetime(2026, 1, 2, 4, 4, 5, 120, tzinfo=timezone(timedelta(hours=1))),
           "conformant": False, "violations": [], "policy_version": "v1", "actor": "t",
           "recipe_id": None, "recipe_version": None}
    row.update(values)
    return row


def test_rows_read_back_as_sqlalchemy_stores_them(app, session):
    ours = [decision_row(), decision_row(conformant=True, rule={"id": "R"}, channel="web",
                                         recipe_id="r", recipe_version=3),
            decision_row(decided_at=datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))]
    theirs = [{**row, "decision_id": str(uuid.uuid4())} for row in ours]
    conn = session.connection()
    BulkInsert(Decision.__table__)(conn, ours)
    conn.execute(insert(Decision), theirs)
    session.flush()
    table = Decision.__table__
    read = {r.decision_id: r._asdict() for r in conn.execute(select(table))}
    for mine, other in zip(ours, theirs, strict=True):
        a, b = dict(read[mine["decision_id"]]), dict(read[other["decision_id"]])
        a.pop("decision_id"), b.pop("decision_id")
        assert a == b
        assert a["recorded_at"] == mine["recorded_at"] and a["item"] == mine["item"]
    if get_db(app).dialect == "sqlite":  # the very text SQLAlchemy's DATETIME stores
        raw = dict(conn.exec_driver_sql("SELECT decision_id, decided_at FROM decisions").all())
        assert raw[ours[0]["decision_id"]] == raw[theirs[0]["decision_id"]]


def test_a_left_out_key_is_the_databases(session):
    conn = session.connection()
    now = datetime.now(UTC)
    row = {"event_id": str(uuid.uuid4()), "subject_id": "s-2", "kind": "choice",
           "purpose": "marketing", "category": None, "channel": None, "switch": None,
           "status": "granted", "jurisdiction": "EU", "source": "t", "notice_version": None,
           "evidence": None, "receipt_id": None, "idempotency_key": None, "actor": "t",
           "received_at": now, "occurred_at": now}
    BulkInsert(ConsentEvent.__table__, left_out=("id",))(conn, [row, {**row, "event_id": "e2"}])
    ids = conn.execute(select(ConsentEvent.id, ConsentEvent.evidence)
                       .where(ConsentEvent.subject_id == "s-2")).all()
    assert len({i for i, _ in ids}) == 2 and all(e is None for _, e in ids)


def test_a_naive_time_is_refused(app):
    with pytest.raises(ValueError, match="naive"), app.app_context(), \
            get_db(app).transaction() as session:
        BulkInsert(Decision.__table__)(session.connection(),
                                       [decision_row(decided_at=datetime(2026, 1, 1))])
