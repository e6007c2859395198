"""Rate limits shared by every host through Redis (CONSENTRY_RATE_LIMIT_STORE): two apps
(two hosts) draw from one bucket per key, as a real Redis server keeps it."""

from __future__ import annotations

import os
import uuid

import pytest

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_missing() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except Exception as exc:  # any failure: no server to test against
        return f"no Redis at {REDIS_URL}: {exc}"
    return None


@pytest.fixture
def redis_url():
    why = _redis_missing()
    if why:
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"REQUIRE_REDIS=1 but {why}")
        pytest.skip(why)
    return REDIS_URL


def test_two_hosts_share_one_bucket_per_key(make_app, redis_url, tmp_path):
    hosts = [make_app(RATE_LIMIT_PER_SECOND=1.0, RATE_LIMIT_STORE=redis_url)
             for _ in range(2)]
    from consentry import auth
    from consentry.db import get_db

    with hosts[0].app_context(), get_db(hosts[0]).transaction() as s:
        key = auth.create_key(s, f"shared-{uuid.uuid4().hex[:8]}", ["policy:read"])
    headers = {"Authorization": f"Bearer {key}"}
    first, second = (h.test_client() for h in hosts)
    # A burst of twice the rate (2): one request on each host, then the bucket is empty for
    # both; an in-process limiter would give each host a bucket of its own.
    assert first.get("/v1/policy", headers=headers).status_code == 200
    assert second.get("/v1/policy", headers=headers).status_code == 200
    refused = first.get("/v1/policy", headers=headers)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert second.get("/v1/policy", headers=headers).status_code == 429


def test_an_unreachable_store_leaves_each_process_its_own_bucket(make_app):
    from consentry import auth

    limiter = auth.rate_limiter(1.0, "redis://127.0.0.1:1/0")  # nothing listens there
    assert limiter.retry_after("k") == 0 and limiter.retry_after("k") == 0
    assert limiter.retry_after("k") > 0  # the burst of 2 is spent, in this process
