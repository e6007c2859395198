"""Faults on the real cluster: the primary killed under a write burst, a switchover, a
replica lost, a web host lost. After each: every acknowledged write is in the history
exactly once, nothing answered 500, and the audit chain verifies."""

from __future__ import annotations

import time

import pytest

from tests.cluster.conftest import Burst, record, stored_keys
from tests.cluster.harness import http_json, wait_for

pytestmark = pytest.mark.cluster


def _no_500(burst: Burst) -> None:
    assert not [code for code in burst.statuses if code is not None and code >= 500
                and code != 503], burst.statuses


def _history_exact(cluster, burst: Burst) -> int:
    stored = stored_keys(cluster)
    missing = [k for k in burst.acknowledged if stored.get(k) != 1]
    assert not missing, {k: stored.get(k) for k in missing[:10]}
    return len(burst.acknowledged)


def _audit_verifies(service, tmp_path) -> dict:
    """The sequencer caught up; an export of the whole log verifies offline."""
    wait_for("the audit queue to drain", lambda: service.cluster.psql(
        "SELECT count(*) FROM audit_queue") == "0", 60)
    bundle = tmp_path / "audit.zip"
    service.flask("audit", "export", "--out", str(bundle), "--reason", "cluster test")
    verified = service.flask("audit", "verify", str(bundle), check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    entries = int(service.cluster.psql("SELECT count(*) FROM audit_entries"))
    gaps = service.cluster.psql(
        "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (ORDER BY seq) AS before "
        "FROM audit_entries) s WHERE before IS NOT NULL AND seq <> before + 1")
    assert gaps == "0"
    return {"audit_entries": entries}


def test_killing_the_primary_under_a_write_burst_loses_no_acknowledged_write(
        cluster, service, tmp_path):
    burst = Burst(service)
    burst.start()
    try:
        wait_for("writes to flow", lambda: len(burst.successes) >= 50, 60)
        old = cluster.primary()
        killed_at = time.monotonic()
        cluster.kill_node(old)
        wait_for("a new primary", lambda: (p := cluster.primary()) and p is not old and p,
                 90)
        promoted_at = time.monotonic()
        back = wait_for("writes to succeed again",
                        lambda: burst.first_success_after(promoted_at), 90)
        time.sleep(3)
    finally:
        burst.finish()
    _no_500(burst)
    # /readyz told the load balancer the truth: 503 while no primary, 200 again after.
    assert 503 in burst.ready_between(killed_at + 1, promoted_at - 1)
    assert burst.ready_between(back + 1, back + 3) == {200}
    written = _history_exact(cluster, burst)
    record("kill_primary", writers=burst.writers, acknowledged=written,
           statuses={str(k): v for k, v in burst.statuses.items()},
           seconds_to_new_primary=round(promoted_at - killed_at, 1),
           seconds_until_writes_again=round(back - killed_at, 1),
           patroni_ttl=10, **_audit_verifies(service, tmp_path))
    cluster.start_node(old)  # it comes back as a replica (pg_rewind)
    wait_for("the old primary to rejoin", lambda: old.role() == "replica", 120)


def test_a_switchover_under_load_answers_nothing_but_503s_and_loses_nothing(
        cluster, service, tmp_path):
    wait_for("a synchronous standby", cluster.sync_standby, 60)
    burst = Burst(service)
    burst.start()
    try:
        wait_for("writes to flow", lambda: len(burst.successes) >= 30, 60)
        candidate = cluster.sync_standby()
        started = time.monotonic()
        cluster.switchover(candidate)
        wait_for("the candidate to lead", lambda: candidate.role() == "primary", 60)
        back = wait_for("writes to succeed again",
                        lambda: burst.first_success_after(time.monotonic() - 0.5), 60)
        time.sleep(2)
    finally:
        burst.finish()
    _no_500(burst)
    record("switchover", acknowledged=_history_exact(cluster, burst),
           statuses={str(k): v for k, v in burst.statuses.items()},
           seconds_until_writes_again=round(back - started, 1),
           **_audit_verifies(service, tmp_path))


def test_writes_go_on_when_a_replica_dies(cluster, service, tmp_path):
    primary = wait_for("a primary", cluster.primary, 60)
    replicas = [n for n in cluster.nodes if n is not primary and n.role() == "replica"]
    assert replicas
    burst = Burst(service)
    burst.start()
    try:
        wait_for("writes to flow", lambda: len(burst.successes) >= 30, 60)
        before = len(burst.successes)
        victim = cluster.sync_standby() or replicas[0]
        killed_at = time.monotonic()
        cluster.kill_node(victim)
        time.sleep(8)
        stalled = wait_for("writes after the replica died",
                           lambda: burst.first_success_after(killed_at), 60)
        after = len(burst.successes)
    finally:
        burst.finish()
    _no_500(burst)
    record("replica_dies", acknowledged=_history_exact(cluster, burst),
           writes_before=before, writes_during_8s_after=after - before,
           seconds_first_write_after_kill=round(stalled - killed_at, 2),
           statuses={str(k): v for k, v in burst.statuses.items()})
    cluster.start_node(victim)
    wait_for("the replica to rejoin", lambda: victim.role() == "replica", 120)


def test_a_web_host_dies_and_the_other_serves_the_link_made_on_the_first(cluster, service):
    first, second = service.bases[:2]
    code, link = http_json(f"{first}/v1/subjects/link-person/preference-link", "POST", {},
                           headers=service.admin)
    assert code == 201, link
    process = next(p for p, base in service.hosts if base == first)
    process.kill()
    process.wait()
    path = link["url"].split("://", 1)[1].split("/", 1)[1]
    import urllib.request
    with urllib.request.urlopen(f"{second}/{path}", timeout=10) as page:
        assert page.status == 200 and b"<form" in page.read()
    code, _ = http_json(f"{second}/readyz")
    assert code == 200


def test_a_purge_running_when_the_primary_dies_is_resumed_once_and_says_so(cluster, service):
    expired = 30_000
    cluster.psql(
        "INSERT INTO decisions (decision_id, subject_id, surface, channel, purpose, item, "
        "signals_used, rule, decided_at, recorded_at, conformant, violations, "
        "policy_version, actor) SELECT 'old-' || n, 'old-subject-' || (n % 500), "
        "'homepage_hero', 'web', 'personalization', '{}', '[]', NULL, "
        "now() - interval '200 days', now() - interval '200 days', true, '[]', 'v', 'seed' "
        f"FROM generate_series(1, {expired}) AS n")
    base = service.bases[0]
    code, run = http_json(f"{base}/v1/retention/runs", "POST",
                          {"dry_run": False, "targets": ["decisions"]},
                          headers=service.admin)
    assert code == 202, run

    def deleting():
        code, body = http_json(f"{base}/v1/retention/runs/{run['run_id']}",
                               headers=service.admin)
        return code == 200 and body["status"] == "running" and \
            body["totals"].get("deleted", 0) > 0

    wait_for("the purge to be deleting", deleting, 60, every=0.1)
    old = cluster.primary()
    cluster.kill_node(old)
    wait_for("a new primary", lambda: (p := cluster.primary()) and p is not old and p, 90)

    def resumed():
        code, body = http_json(f"{base}/v1/retention/runs?limit=50", headers=service.admin)
        if code != 200:
            return None
        runs = {r["run_id"]: r for r in body["runs"]}
        resumes = [r for r in runs.values() if r["resumes"] == run["run_id"]]
        done = resumes and resumes[0]["status"] == "succeeded"
        return (runs[run["run_id"]], resumes) if done else None

    first, resumes = wait_for("the purge to be resumed and finish", resumed, 120)
    assert first["status"] == "abandoned" and "a new run resumes" in first["error"]
    assert len(resumes) == 1 and resumes[0]["trigger"] == "resume"
    left = cluster.psql("SELECT count(*) FROM decisions WHERE subject_id LIKE 'old-subject-%'")
    assert left == "0"
    record("purge_resumed", expired_rows=expired,
           deleted_before_kill=first["totals"].get("deleted", 0),
           deleted_by_resume=resumes[0]["totals"].get("deleted", 0))
    cluster.start_node(old)
    wait_for("the old primary to rejoin", lambda: old.role() == "replica", 120)
