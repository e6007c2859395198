"""Consent writes per second over HTTP next to a bare Flask endpoint (issue 3).

    .venv/bin/python -m bench.consent_writes [--seconds 10] [--connections 16]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Both served by gunicorn, 2 sync workers, same settings, same run. Every consent write
commits durably (SQLite synchronous=FULL in WAL / PostgreSQL default fsync) with its
audit entry, receipt and state row.
"""

from __future__ import annotations

from bench.harness import as_json, write_bench

STATUSES = ["granted", "denied", "withdrawn"]


def consent_write(headers: dict, n: int, i: int):
    body = {"source": "bench", "jurisdiction": "EU",
            "choices": [{"purpose": "personalization", "status": STATUSES[i % 3]},
                        {"purpose": "marketing", "channel": "email", "status": "granted"}],
            "evidence": {"user_agent": "bench", "ip": "203.0.113.9"}}
    return "PUT", f"/v1/subjects/bench-{n}-{i % 500}/consents", as_json(body), headers


if __name__ == "__main__":
    write_bench(__doc__, "Consent writes", "PUT /consents (2 choices)", consent_write)
