"""The cluster group (`make test-cluster`): etcd, three Patroni nodes, two web hosts and
two schedulers, started once for the group. Skipped in one line where the binaries are
absent, unless REQUIRE_CLUSTER=1 (CI), which fails the run instead."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cluster.harness import Cluster, free_port, http_json, missing, wait_for

ROOT = Path(__file__).resolve().parents[2]
REQUIRE_CLUSTER = os.environ.get("REQUIRE_CLUSTER") == "1"
FIGURES: dict[str, dict] = {}
REPORT = ROOT / "var" / "cluster" / "figures.json"


def pytest_collection_modifyitems(config, items):
    mine = [item for item in items if "tests/cluster/" in str(item.fspath)]
    why = missing() if mine else None
    if why is None:
        return
    if REQUIRE_CLUSTER:
        pytest.exit(f"REQUIRE_CLUSTER=1 but {why}", returncode=1)
    items[:] = [item for item in items if item not in mine]
    config.hook.pytest_deselected(items=mine)
    FIGURES["skipped"] = {"tests": len(mine), "why": why}


def pytest_terminal_summary(terminalreporter):
    if "skipped" in FIGURES:
        s = FIGURES["skipped"]
        terminalreporter.write_line(f"cluster tests skipped ({s['tests']} tests): {s['why']}",
                                    yellow=True)
        return
    if FIGURES:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(json.dumps(FIGURES, indent=2, sort_keys=True) + "\n")
        terminalreporter.write_sep("-", "cluster figures (also in var/cluster/figures.json)")
        for name, figures in FIGURES.items():
            terminalreporter.write_line(f"{name}: {json.dumps(figures, sort_keys=True)}")


def record(test: str, **figures) -> None:
    """Keep a test's figures for the summary and var/cluster/figures.json."""
    FIGURES.setdefault(test, {}).update(figures)


@dataclass
class Service:
    """Consentry's processes in front of the cluster, configured as an operator would."""

    cluster: Cluster
    root: Path
    env: dict
    hosts: list[tuple[subprocess.Popen, str]] = field(default_factory=list)
    schedulers: list[subprocess.Popen] = field(default_factory=list)
    admin: dict = field(default_factory=dict)

    def flask(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args],
                              cwd=ROOT, env=self.env, capture_output=True, text=True,
                              check=check, timeout=300)

    def start_host(self) -> str:
        port = free_port()
        with open(self.root / f"web-{port}.log", "ab") as log:  # the child keeps its copy
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "4",
                 "--worker-class", "gthread", "--bind", f"127.0.0.1:{port}",
                 "--graceful-timeout", "5", "wsgi:app"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        wait_for(f"web host {base}", lambda: http_json(f"{base}/readyz")[0] == 200, 60)
        self.hosts.append((process, base))
        return base

    def start_scheduler(self) -> subprocess.Popen:
        path = self.root / f"scheduler-{len(self.schedulers)}.log"
        with open(path, "ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi",
                                        "scheduler"], cwd=ROOT,
                                       env={**self.env, "CONSENTRY_LOG_LEVEL": "INFO"},
                                       stdout=log, stderr=subprocess.STDOUT)
        self.schedulers.append(process)
        wait_for(f"scheduler {path.name} to start", lambda: b"started with" in path.read_bytes()
                 or process.poll() is not None, 90)
        assert process.poll() is None, path.read_text()[-3000:]
        return process

    @property
    def bases(self) -> list[str]:
        return [base for process, base in self.hosts if process.poll() is None]

    def stop(self) -> None:
        for process in [p for p, _ in self.hosts] + self.schedulers:
            if process.poll() is None:
                process.terminate()
        for process in [p for p, _ in self.hosts] + self.schedulers:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="session")
def cluster():
    root = Path(tempfile.mkdtemp(prefix="consentry-cluster-"))
    os.chmod(root, 0o755)
    cluster = Cluster(root / "db")
    started = time.monotonic()
    try:
        cluster.start()
        record("cluster", start_seconds=round(time.monotonic() - started, 1))
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def service(cluster):
    """Two web hosts and two schedulers on the cluster's multi-host URL, one set of secrets
    given to every host by configuration (the same CONSENTRY_SECRETS_DIR)."""
    root = cluster.root.parent / "service"
    root.mkdir()
    env = {**os.environ,
           "CONSENTRY_DATABASE_URL": cluster.url(),
           "CONSENTRY_SECRETS_DIR": str(root / "secrets"),
           "CONSENTRY_AUDIT_EXPORT_DIR": str(root / "exports"),
           "CONSENTRY_PUBLIC_URL": "http://127.0.0.1:8000",
           "CONSENTRY_SCHEDULER_POLL_SECONDS": "0.5",
           "CONSENTRY_RETENTION_LEASE_SECONDS": "10",
           # small purge batches, so a purge is still going when the primary is killed
           "CONSENTRY_RETENTION_BATCH_ROWS": "100",
           "CONSENTRY_LOG_LEVEL": "WARNING"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    service = Service(cluster, root, env)
    service.flask("db", "upgrade")
    key = service.flask("keys", "create", "--name", "cluster-admin", "--scope",
                        "admin").stdout.strip().splitlines()[-1]
    service.admin = {"Authorization": f"Bearer {key}"}
    try:
        service.start_host()
        service.start_host()
        service.start_scheduler()
        service.start_scheduler()
        yield service
    finally:
        service.stop()


def put_consent(base: str, headers: dict, subject: str, key: str, status: str = "granted"):
    """One consent write with an Idempotency-Key: (HTTP status or None, seconds)."""
    started = time.monotonic()
    code, _ = http_json(f"{base}/v1/subjects/{subject}/consents", "PUT", {
        "source": "cluster-test", "jurisdiction": "EU",
        "choices": [{"purpose": "personalization", "category": "behavioral",
                     "status": status}]}, timeout=10, headers={**headers,
                                                               "Idempotency-Key": key})
    return code, time.monotonic() - started


@dataclass
class Burst:
    """Writers that each write, with an Idempotency-Key, and retry a 503 or a lost
    answer with the same key until it is acknowledged, as a client would."""

    service: Service
    writers: int = 16
    acknowledged: dict[str, str] = field(default_factory=dict)  # key -> subject
    statuses: dict[int | None, int] = field(default_factory=dict)
    successes: list[float] = field(default_factory=list)  # monotonic times of 200s
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)
    readiness: list[tuple[float, int | None]] = field(default_factory=list)

    def _ready_watch(self) -> None:
        """What /readyz tells a load balancer, every half second."""
        while not self.stop.is_set():
            bases = self.service.bases
            code, _ = http_json(f"{bases[0]}/readyz", timeout=2) if bases else (None, None)
            with self.lock:
                self.readiness.append((time.monotonic(), code))
            time.sleep(0.5)

    def ready_between(self, start: float, end: float) -> set:
        with self.lock:
            return {code for t, code in self.readiness if start <= t <= end}

    def _writer(self, number: int) -> None:
        sequence = 0
        while not self.stop.is_set():
            subject = f"w{number}-{sequence % 5}"
            key = f"burst-{number}-{sequence}-{uuid.uuid4().hex[:6]}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                bases = self.service.bases
                base = bases[sequence % len(bases)]
                code, _ = put_consent(base, self.service.admin, subject, key,
                                      "granted" if sequence % 2 else "denied")
                with self.lock:
                    self.statuses[code] = self.statuses.get(code, 0) + 1
                if code == 200:
                    with self.lock:
                        self.acknowledged[key] = subject
                        self.successes.append(time.monotonic())
                    break
                time.sleep(0.2)  # a 503 (Retry-After: 1), or no answer: try again
                if self.stop.is_set() and code not in (None, 503):
                    break
            sequence += 1

    def start(self) -> None:
        watch = threading.Thread(target=self._ready_watch, daemon=True)
        watch.start()
        self.threads.append(watch)
        for number in range(self.writers):
            thread = threading.Thread(target=self._writer, args=(number,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(150)

    def first_success_after(self, moment: float) -> float | None:
        with self.lock:
            later = [t for t in self.successes if t > moment]
        return min(later) if later else None


def stored_keys(cluster: Cluster) -> dict[str, int]:
    """How often each burst key is in the consent history, on the current primary."""
    rows = cluster.psql("SELECT idempotency_key, count(*) FROM consent_events "
                        "WHERE idempotency_key LIKE 'burst-%' GROUP BY idempotency_key")
    counts = {}
    for line in rows.splitlines():
        key, count = line.split("|")
        counts[key] = int(count)
    return counts
