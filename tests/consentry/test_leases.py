"""Leases in rows: one holder at a time, expiry hands it over."""

from consentry import leases
from consentry.db import get_db


def test_one_holder_until_release(app):
    db = get_db(app)
    with db.transaction() as s:
        assert leases.acquire(s, "job:x", "a", 60)
    with db.transaction() as s:
        assert not leases.acquire(s, "job:x", "b", 60)
        assert leases.acquire(s, "job:x", "a", 60)  # renewal
    with db.transaction() as s:
        leases.release(s, "job:x", "a")
    with db.transaction() as s:
        assert leases.acquire(s, "job:x", "b", 60)


def test_expired_lease_is_taken_over(app):
    db = get_db(app)
    with db.transaction() as s:
        assert leases.acquire(s, "job:y", "a", -1)
    with db.transaction() as s:
        assert leases.acquire(s, "job:y", "b", 60)
