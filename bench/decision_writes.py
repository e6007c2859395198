"""Decision writes per second over HTTP next to a bare Flask endpoint (issue 5).

    .venv/bin/python -m bench.decision_writes [--seconds 10] [--connections 16]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Each write is judged against the subject's consent at decided_at; one in ten uses a
category without consent, so the audited violation path is part of the mix.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bench.harness import as_json, write_bench


def decision(headers: dict, n: int, i: int):
    signals = [{"category": "behavioral", "summary": "viewed Running Shoes 3 times"}]
    if i % 10 == 0:
        signals.append({"category": "location_precise", "summary": "near a store"})
    body = {"subject_id": f"u-{n}-{i % 1000}", "surface": "homepage_hero", "channel": "web",
            "purpose": "personalization", "item": {"id": "sku-1", "label": "Shoes"},
            "signals_used": signals, "rule": {"id": "R1", "description": "3+ views"},
            "decided_at": datetime.now(UTC).isoformat()}
    return "POST", "/v1/decisions", as_json(body), headers


if __name__ == "__main__":
    write_bench(__doc__, "Decision writes", "POST /v1/decisions", decision)
