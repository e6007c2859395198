"""A libpq multi-host URL: the service takes it, reaches the host that answers, and
answers 503 (never 500) while none does. The cluster group (tests/cluster) breaks a
real Patroni cluster; these run against the suite's own PostgreSQL."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from consentry import create_app
from consentry.db import database_url, make_engine
from tests.cluster.harness import free_port

PG_URL = os.environ.get("TEST_DATABASE_URL", "")


def test_a_multi_host_url_becomes_sqlalchemys_host_list_and_a_plain_one_stays():
    url = database_url("postgresql+psycopg://u:p@h1:5433,h2:5434,h3/db"
                       "?target_session_attrs=read-write")
    assert url.query["host"] == ("h1:5433", "h2:5434", "h3")
    assert url.query["target_session_attrs"] == "read-write"
    assert (url.username, url.password, url.database) == ("u", "p", "db")
    plain = "postgresql+psycopg://u@h1:5433/db"
    assert database_url(plain) == make_url(plain)
    assert database_url("sqlite:///var/x.db") == make_url("sqlite:///var/x.db")


def _dead_first(pg: str) -> str:
    real = make_url(pg)
    dead = free_port()
    auth = real.username + "@" if real.username else ""
    return (f"postgresql+psycopg://{auth}127.0.0.1:{dead},{real.host}:{real.port or 5432}/"
            f"{real.database}?connect_timeout=2")


@pytest.mark.skipif(not PG_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")
def test_the_engine_skips_a_host_that_does_not_answer():
    engine = make_engine(_dead_first(PG_URL))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.skipif(not PG_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")
def test_with_no_host_answering_requests_get_503_with_retry_after_and_readyz_503(tmp_path):
    nowhere = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()},127.0.0.1:{free_port()}" \
              "/consentry?connect_timeout=1"
    app = create_app({"DATABASE_URL": nowhere, "SECRETS_DIR": str(tmp_path / "secrets"),
                      "TESTING": True})  # starts, though no database answers
    client = app.test_client()
    assert client.get("/readyz").status_code == 503
    r = client.put("/v1/subjects/alice/consents", headers={
        "Authorization": "Bearer csk_00000000_" + "0" * 64, "Idempotency-Key": "k1"},
        json={"source": "t", "choices": []})
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert r.get_json()["error"]["code"] == "unavailable"
