"""Purging external targets: timestamp forms at the boundary second, failures, holds, batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from tests.retention.conftest import by_target, run_now

AS_OF = datetime(2026, 6, 15, 12, 0, 0, tzinfo=UTC)
BEHAVIORAL_CUTOFF = AS_OF - timedelta(days=90)
PLUS2 = timezone(timedelta(hours=2))

# form → (SQLite type, PostgreSQL type, how a UTC datetime is written)
FORMS = {
    "native": ("DATETIME", "TIMESTAMPTZ",
               lambda dt, pg: dt if pg else dt.strftime("%Y-%m-%d %H:%M:%S.%f")),
    "native_naive": ("DATETIME", "TIMESTAMP",
                     lambda dt, pg: dt.replace(tzinfo=None) if pg else dt.strftime(
                         "%Y-%m-%d %H:%M:%S")),
    "iso_t_z": ("TEXT", "TEXT", lambda dt, pg: dt.strftime("%Y-%m-%dT%H:%M:%SZ")),
    "iso_space_no_zone": ("TEXT", "TEXT", lambda dt, pg: dt.strftime("%Y-%m-%d %H:%M:%S")),
    "iso_t_offset_fraction": ("TEXT", "TEXT",
                              lambda dt, pg: dt.astimezone(PLUS2).isoformat(
                                  timespec="milliseconds")),
    "iso_space_fraction_z": ("TEXT", "TEXT",
                             lambda dt, pg: dt.strftime("%Y-%m-%d %H:%M:%S.%fZ")),
    "epoch_seconds": ("INTEGER", "BIGINT", lambda dt, pg: int(dt.timestamp())),
    "epoch_milliseconds": ("INTEGER", "BIGINT", lambda dt, pg: int(dt.timestamp()) * 1000),
    "epoch_real": ("REAL", "DOUBLE PRECISION", lambda dt, pg: dt.timestamp()),
}

ROWS = {  # id → timestamp; ids 1 and 3 are past the cutoff
    1: BEHAVIORAL_CUTOFF - timedelta(seconds=1),
    2: BEHAVIORAL_CUTOFF + timedelta(seconds=1),
    3: BEHAVIORAL_CUTOFF - timedelta(days=400),
    4: AS_OF - timedelta(days=1),
}


def _is_pg(engine) -> bool:
    return engine.dialect.name == "postgresql"


def make_table(engine, name, ts_type, rows, *, key="id INTEGER PRIMARY KEY", extra=""):
    """Create `name` (id, user_id, kind, ts) with plain SQL and insert `rows`."""
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {name} ({key + ', ' if key else ''}"
                          f"id_plain INTEGER, user_id TEXT, kind TEXT, ts {ts_type}{extra})"))
        for row in rows:
            conn.execute(text(f"INSERT INTO {name} ({'id, ' if key else ''}id_plain, user_id, "
                              f"kind, ts) VALUES ({':key, ' if key else ''}:id, :user_id, "
                              ":kind, :ts)"), {"key": row["id"], **row})


def remaining(engine, name) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(text(f"SELECT id_plain FROM {name}")).scalars())


def target(name, url, **extra):
    spec = {"name": name, "url": url, "table": name, "timestamp_column": "ts",
            "subject_column": "user_id"}
    spec.update(extra or {"class": "behavioral"})
    return spec


def test_every_timestamp_form_is_compared_at_the_boundary_second(retention_app, external,
                                                                 external_url):
    pg = _is_pg(external)
    for form, (sqlite_type, pg_type, write) in FORMS.items():
        make_table(external, f"ev_{form}", pg_type if pg else sqlite_type,
                   [{"id": i, "user_id": f"u{i}", "kind": "behavioral", "ts": write(ts, pg)}
                    for i, ts in ROWS.items()])
    app = retention_app([target(f"ev_{form}", external_url) for form in FORMS])

    report = run_now(app, as_of=AS_OF)

    assert report["status"] == "succeeded", report
    assert report["cutoffs"]["behavioral"] == "2026-03-17T12:00:00Z"
    for form in FORMS:
        assert remaining(external, f"ev_{form}") == {2, 4}, form
        entry = by_target(report)[f"ev_{form}"]
        assert (entry["status"], entry["deleted"], entry["matched"]) == ("succeeded", 2, 2)


def test_a_second_run_deletes_nothing_more(retention_app, external, external_url):
    make_table(external, "ev", "TEXT",
               [{"id": i, "user_id": "u", "kind": "behavioral", "ts": ts.isoformat()}
                for i, ts in ROWS.items()])
    app = retention_app([target("ev", external_url)])

    first = run_now(app, as_of=AS_OF)
    second = run_now(app, as_of=AS_OF)

    assert by_target(first)["ev"]["deleted"] == 2
    assert by_target(second)["ev"]["deleted"] == 0
    assert remaining(external, "ev") == {2, 4}


def test_dry_run_counts_and_deletes_nothing(retention_app, external, external_url):
    make_table(external, "ev", "TEXT",
               [{"id": i, "user_id": "u", "kind": "behavioral", "ts": ts.isoformat()}
                for i, ts in ROWS.items()])
    app = retention_app([target("ev", external_url)])

    report = run_now(app, dry_run=True, as_of=AS_OF)

    assert by_target(report)["ev"]["matched"] == 2
    assert by_target(report)["ev"]["deleted"] == 0
    assert remaining(external, "ev") == {1, 2, 3, 4}


def test_missing_table_or_column_fails_that_target_and_the_others_go_on(
        retention_app, external, external_url):
    make_table(external, "ev", "TEXT",
               [{"id": i, "user_id": "u", "kind": "behavioral", "ts": ts.isoformat()}
                for i, ts in ROWS.items()])
    app = retention_app([
        target("gone", external_url, table="no_such_table", **{"class": "behavioral"}),
        target("typo", external_url, table="ev", timestamp_column="occurred",
               **{"class": "behavioral"}),
        target("ev", external_url),
    ])

    report = run_now(app, as_of=AS_OF)

    targets = by_target(report)
    assert report["status"] == "failed"
    total = 3 + len(app.extensions["consentry.stores"])  # and the service's own stores
    assert f"2 of {total}" in report["error"]
    assert targets["gone"]["status"] == "failed"
    assert "no_such_table" in targets["gone"]["error"] and "not found" in targets["gone"]["error"]
    assert targets["typo"]["status"] == "failed"
    assert "'occurred' not found" in targets["typo"]["error"]
    assert targets["ev"]["status"] == "succeeded"
    assert remaining(external, "ev") == {2, 4}


def test_category_column_maps_rows_through_the_policy_classes(retention_app, external,
                                                              external_url):
    old_for_behavioral = AS_OF - timedelta(days=100)  # past 90 days, inside 730
    very_old = AS_OF - timedelta(days=800)
    rows = [
        {"id": 1, "user_id": "u", "kind": "behavioral", "ts": old_for_behavioral.isoformat()},
        {"id": 2, "user_id": "u", "kind": "transactional", "ts": old_for_behavioral.isoformat()},
        {"id": 3, "user_id": "u", "kind": "transactional", "ts": very_old.isoformat()},
        {"id": 4, "user_id": "u", "kind": "declared", "ts": very_old.isoformat()},  # profile
        {"id": 5, "user_id": "u", "kind": "not_in_policy", "ts": very_old.isoformat()},
    ]
    make_table(external, "ev", "TEXT", rows)
    app = retention_app([target("ev", external_url, category_column="kind")])

    report = run_now(app, as_of=AS_OF)

    assert by_target(report)["ev"]["deleted"] == 2
    assert remaining(external, "ev") == {2, 4, 5}


def test_tables_without_an_integer_key_are_purged_too(retention_app, external, external_url):
    rows = [{"id": i, "user_id": "u", "kind": "behavioral", "ts": ts.isoformat()}
            for i, ts in ROWS.items()]
    make_table(external, "keyless", "TEXT", rows, key="")
    make_table(external, "textkey", "TEXT",
               [{**r, "key": f"k{r['id']}"} for r in rows], key="id TEXT PRIMARY KEY")
    app = retention_app([target("keyless", external_url), target("textkey", external_url)])

    report = run_now(app, as_of=AS_OF)

    assert report["status"] == "succeeded", report
    assert remaining(external, "keyless") == {2, 4}
    assert remaining(external, "textkey") == {2, 4}


def test_batches_are_bounded_and_progress_is_reported(retention_app, external, external_url):
    old = (AS_OF - timedelta(days=200)).isoformat()
    new = (AS_OF - timedelta(days=1)).isoformat()
    rows = [{"id": i, "user_id": f"u{i}", "kind": "behavioral", "ts": old if i % 2 else new}
            for i in range(1, 2001)]
    make_table(external, "ev", "TEXT", rows)
    app = retention_app([target("ev", external_url)], RETENTION_BATCH_ROWS=100)

    report = run_now(app, as_of=AS_OF)

    entry = by_target(report)["ev"]
    assert entry["deleted"] == 1000
    assert entry["batches"] >= 20  # 2,000 keys in ranges of at most 100
    assert len(remaining(external, "ev")) == 1000


@pytest.mark.parametrize("hold", [{"subject_id": "u1"}, {"category": "behavioral"}])
def test_held_rows_are_skipped_and_counted(retention_app, external, external_url,
                                           make_key, hold):
    old = (AS_OF - timedelta(days=200)).isoformat()
    rows = [{"id": 1, "user_id": "u1", "kind": "behavioral", "ts": old},
            {"id": 2, "user_id": "u2", "kind": "transactional", "ts": old},
            {"id": 3, "user_id": "u2", "kind": "behavioral", "ts": old}]
    make_table(external, "ev", "TEXT", rows)
    app = retention_app([target("ev", external_url, category_column="kind")])
    client = app.test_client()
    headers = {"Authorization": make_key("retention:admin")["Authorization"]}
    r = client.post("/v1/retention/holds", json={**hold, "reason": "litigation 2026-17"},
                    headers=headers)
    assert r.status_code == 201, r.get_json()

    report = run_now(app, as_of=AS_OF)

    entry = by_target(report)["ev"]
    if "subject_id" in hold:
        assert remaining(external, "ev") == {1, 2}
        assert (entry["deleted"], entry["held"]) == (1, 1)
    else:
        assert remaining(external, "ev") == {1, 2, 3}
        assert (entry["deleted"], entry["held"]) == (0, 2)
    assert report["totals"]["held"] == entry["held"]


def test_text_with_extreme_zone_offsets_is_compared_in_utc(retention_app, external,
                                                           external_url):
    east, west = timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))
    cases = {  # id → (UTC time, zone it is written in); odd ids are past the cutoff
        1: (BEHAVIORAL_CUTOFF - timedelta(seconds=1), east),
        2: (BEHAVIORAL_CUTOFF + timedelta(seconds=1), west),
        3: (BEHAVIORAL_CUTOFF - timedelta(hours=36), west),
        4: (BEHAVIORAL_CUTOFF + timedelta(hours=36), east),
        5: (BEHAVIORAL_CUTOFF - timedelta(hours=47), east),
        6: (BEHAVIORAL_CUTOFF + timedelta(hours=47), west),
    }
    rows = [{"id": i, "user_id": "u", "kind": "behavioral", "ts": ts.astimezone(zone).isoformat()}
            for i, (ts, zone) in cases.items()]
    rows.append({"id": 8, "user_id": "u", "kind": "behavioral", "ts": "not a time"})
    rows.append({"id": 9, "user_id": "u", "kind": "behavioral", "ts": "1700000000"})
    make_table(external, "ev", "TEXT", rows)
    app = retention_app([target("ev", external_url)])
    if external.dialect.name == "postgresql":  # PostgreSQL refuses to cast junk: leave it out
        with external.begin() as conn:
            conn.execute(text("DELETE FROM ev WHERE id_plain IN (8, 9)"))

    report = run_now(app, as_of=AS_OF)

    assert by_target(report)["ev"]["status"] == "succeeded", report
    if external.dialect.name == "sqlite":  # text that is no ISO time is never taken as old
        assert remaining(external, "ev") == {2, 4, 6, 8, 9}
    else:
        assert remaining(external, "ev") == {2, 4, 6}


def test_sparse_keys_are_walked_by_keyset_not_by_range(retention_app, external, external_url):
    """Keys 1 and 10^15: one batch reaches both, not 10^11 empty ranges between them."""
    old = (AS_OF - timedelta(days=200)).isoformat()
    make_table(external, "sparse", "TEXT", [
        {"id": i, "key": key, "user_id": "u", "kind": "behavioral", "ts": old}
        for i, key in enumerate((1, 2, 10**9, 10**15))], key="id BIGINT PRIMARY KEY")
    app = retention_app([target("sparse", external_url)], RETENTION_BATCH_ROWS=2)
    with app.app_context():
        from consentry.policy import get_policy
        from retention import targets

        spec = next(t for t in get_policy().retention_targets if t.name == "sparse")
        engine = targets.open_engine(spec.url)
        try:
            p = targets.prepare(spec, engine)
            batches = []

            def on_batch(deleted, _seconds):
                batches.append(deleted)
                assert len(batches) <= 10, "walking empty key ranges"

            stats = targets.delete_in_batches(p, p.subject == "u", max_rows=2,
                                              target_seconds=10, on_batch=on_batch)
        finally:
            engine.dispose()
    assert stats.deleted == 4 and stats.batches <= 3  # 2 keys a batch
    assert remaining(external, "sparse") == set()


@pytest.mark.parametrize("url, shown", [
    ("postgresql+psycopg://bob:hunter2@db:5432/shop?password=hunter3&sslmode=require",
     "postgresql+psycopg://bob:***@db:5432/shop?password=***&sslmode=require"),
    ("postgresql+psycopg://db/shop?sslpassword=hunter2&api_key=k1&Token=t2&application_name=x",
     "postgresql+psycopg://db/shop?Token=***&api_key=***&application_name=x"
     "&sslpassword=***"),
    ("sqlite:////var/data/shop.db?key=hunter2", "sqlite:////var/data/shop.db?key=***"),
    ("no url at all: hunter2", "(unparsable URL)"),
])
def test_reports_never_show_a_password_in_the_user_info_or_the_query(url, shown):
    from retention.targets import safe_url

    assert safe_url(url) == shown and "hunter" not in safe_url(url)
