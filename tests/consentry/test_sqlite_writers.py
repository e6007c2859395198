"""SQLite has one writer at a time: a write waits for the lock while another holds it,
and answers 503 (nothing stored) when it cannot get it within the wait limit."""

import sqlite3
import threading
import time

import pytest
from sqlalchemy.engine import make_url

from consentry import db

BODY = {"source": "test",
        "choices": [{"purpose": "marketing", "channel": "email", "status": "granted"}]}


pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def sqlite_path(database_url):
    return make_url(database_url).database


def write_while_locked(client, admin, path: str, seconds: float, subject: str):
    """PUT consents while another process's writer, as SQLite sees it (a connection of
    its own), holds the write lock for `seconds`; the response."""
    taken = threading.Event()

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        taken.set()
        time.sleep(seconds)
        other.execute("ROLLBACK")
        other.close()

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait(5)
    response = client.put(f"/v1/subjects/{subject}/consents", json=BODY, headers=admin)
    holder.join()
    return response


def email_marketing_allowed(client, admin, subject) -> bool:
    entries = client.get(f"/v1/subjects/{subject}/consents", headers=admin).get_json()["entries"]
    return any(e["purpose"] == "marketing" and e["channel"] == "email" and e["allowed"]
               for e in entries)


def test_a_write_waits_for_the_lock_and_lands(client, admin, sqlite_path):
    response = write_while_locked(client, admin, sqlite_path, 0.3, "waits")
    assert response.status_code == 200, response.get_json()
    assert email_marketing_allowed(client, admin, "waits")


def test_a_write_that_cannot_get_the_lock_is_503_and_stores_nothing(
        client, admin, sqlite_path, monkeypatch):
    monkeypatch.setattr(db, "SQLITE_LOCK_WAIT_SECONDS", 0.2)
    response = write_while_locked(client, admin, sqlite_path, 1.0, "blocked")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "unavailable"
    assert response.headers["Retry-After"]
    assert not email_marketing_allowed(client, admin, "blocked")
