"""A real highly available PostgreSQL on one machine: etcd, three Patroni-managed nodes
(synchronous replication), and Consentry's web hosts and schedulers in front of them.

Every process is a real one, started here and killed here (kill -9 for the faults).
PostgreSQL refuses to run as root, so where the tests run as root, etcd, Patroni and
PostgreSQL run as the `postgres` user. Nothing is mocked: the service sees the cluster
only through its multi-host URL, as in production (docs/DEPLOYMENT.md).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN = Path(os.environ.get("CONSENTRY_PG_BIN", "/usr/lib/postgresql/15/bin"))
# Patroni runs as the postgres user, who cannot read a venv made from a Python under
# /root: `make test-cluster` installs it in its own venv from the system's Python.
PATRONI_BIN = Path(os.environ.get("CONSENTRY_PATRONI_BIN",
                                  Path(__file__).resolve().parents[2] / "var/patroni/bin"))
PATRONI = shutil.which("patroni", path=str(PATRONI_BIN))
PATRONICTL = shutil.which("patronictl", path=str(PATRONI_BIN))
ETCD = shutil.which("etcd") or "/usr/bin/etcd"
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
# Patroni's own timing, tuned down from its defaults (ttl 30, loop_wait 10,
# retry_timeout 10): the leader key lives TTL seconds, so a dead primary is replaced
# about TTL seconds after it stopped renewing it. Patroni requires
# loop_wait + 2 * retry_timeout <= ttl.
TTL, LOOP_WAIT, RETRY_TIMEOUT = 10, 1, 4
DATABASE = "consentry"


def missing() -> str | None:
    """None when a cluster can be started here, else what is missing."""
    for what, path in (("PostgreSQL 15 server binaries", PG_BIN / "postgres"),
                       ("etcd (apt-get install etcd-server)", Path(ETCD)),
                       ("pgbouncer (apt-get install pgbouncer)", Path(PGBOUNCER))):
        if not path.exists():
            return f"no {what} at {path}"
    if PATRONI is None or PATRONICTL is None:
        return f"no patroni in {PATRONI_BIN} (make test-cluster installs it)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres user to run PostgreSQL as"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres() -> dict:
    """subprocess arguments that run a child as the postgres user when we are root."""
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam("postgres")

    def demote():
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    return {"preexec_fn": demote}


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(path, user.pw_uid, user.pw_gid)


def http_json(url: str, method: str = "GET", body: dict | None = None, timeout: float = 3,
              headers: dict | None = None):
    """(status, JSON or None) of a request; (None, None) when nothing answers."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw) if raw else None
        except ValueError:
            return exc.code, None
    except (OSError, ValueError):
        return None, None


def wait_for(what: str, check, timeout: float, every: float = 0.25):
    """Call `check` until it returns something true; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


@dataclass
class Node:
    name: str
    pg_port: int
    api_port: int
    config: Path
    data_dir: Path
    process: subprocess.Popen | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def role(self) -> str | None:
        status, body = http_json(f"{self.api}/patroni", timeout=1)
        return body.get("role") if status and body else None

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


@dataclass
class Cluster:
    """etcd and three Patroni nodes under `root`; `start()`, then the faults."""

    root: Path
    nodes: list[Node] = field(default_factory=list)
    etcd: subprocess.Popen | None = None
    etcd_port: int = 0
    logs: list = field(default_factory=list)

    def start(self, count: int = 3) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _chown(self.root)
        self.archive.mkdir()
        _chown(self.archive)
        self._start_etcd()
        for i in range(1, count + 1):
            self.nodes.append(self._node(f"node{i}"))
        first = self.nodes[0]  # it bootstraps; the others clone from it
        self.start_node(first)
        wait_for("the first node to lead", lambda: first.role() == "primary", 90)
        for node in self.nodes[1:]:
            self.start_node(node)
        wait_for("every node to be running", lambda: all(
            n.role() in ("primary", "replica") for n in self.nodes), 120)
        wait_for("a synchronous standby", self.sync_standby, 60)
        self.psql(f"CREATE DATABASE {DATABASE}", database="postgres")

    def _log(self, name: str):
        """A log file for a child; closed here once the child has its own copy."""
        handle = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - closed below
        self.logs.append(handle)
        return handle

    def _close_logs(self) -> None:
        while self.logs:
            self.logs.pop().close()

    @property
    def archive(self) -> Path:
        """Where every node archives its WAL (one shared directory, as object storage is)."""
        return self.root / "wal-archive"

    def _start_etcd(self) -> None:
        self.etcd_port, peer = free_port(), free_port()
        data = self.root / "etcd"
        data.mkdir()
        _chown(data)
        self.etcd = subprocess.Popen(
            [ETCD, "--name", "etcd1", "--data-dir", str(data),
             "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
             "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"etcd1=http://127.0.0.1:{peer}",
             "--listen-metrics-urls", f"http://127.0.0.1:{free_port()}"],
            stdout=self._log("etcd"), stderr=subprocess.STDOUT, **_as_postgres())
        self._close_logs()
        wait_for("etcd", lambda: http_json(
            f"http://127.0.0.1:{self.etcd_port}/health")[0] == 200, 30)

    def _node(self, name: str) -> Node:
        pg_port, api_port = free_port(), free_port()
        data_dir = self.root / name
        sockets = self.root / f"{name}-socket"
        sockets.mkdir()
        _chown(sockets)
        config = self.root / f"{name}.yml"
        config.write_text(json.dumps({
            "scope": "consentry-test", "namespace": "/consentry/", "name": name,
            "log": {"level": "INFO"},
            "restapi": {"listen": f"127.0.0.1:{api_port}",
                        "connect_address": f"127.0.0.1:{api_port}"},
            "etcd3": {"hosts": [f"127.0.0.1:{self.etcd_port}"]},
            "bootstrap": {
                "dcs": {"ttl": TTL, "loop_wait": LOOP_WAIT, "retry_timeout": RETRY_TIMEOUT,
                        "maximum_lag_on_failover": 1048576, "synchronous_mode": True,
                        "postgresql": {"use_pg_rewind": True, "parameters": {
                            "wal_level": "replica", "hot_standby": "on",
                            "max_wal_senders": 10, "max_replication_slots": 10,
                            "wal_log_hints": "on", "max_connections": 200,
                            # WAL archiving, with pg_basebackup the backup that
                            # test_backup.py restores into a fresh server
                            "archive_mode": "on",
                            "archive_command": f"test ! -f {self.archive}/%f && "
                                               f"cp %p {self.archive}/%f"}}},
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, "data-checksums"],
                "pg_hba": ["local all all trust",
                           "host replication replicator 127.0.0.1/32 trust",
                           "host all all 127.0.0.1/32 trust"]},
            "postgresql": {
                "listen": f"127.0.0.1:{pg_port}", "connect_address": f"127.0.0.1:{pg_port}",
                "data_dir": str(data_dir), "bin_dir": str(PG_BIN),
                "pgpass": str(self.root / f"{name}.pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": "postgres"},
                    "replication": {"username": "replicator", "password": "replicator"},
                    "rewind": {"username": "rewinder", "password": "rewinder"}},
                "parameters": {"unix_socket_directories": str(sockets),
                               "fsync": "on", "synchronous_commit": "on"}},
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False,
                     "nosync": False}}))
        _chown(config)
        return Node(name, pg_port, api_port, config, data_dir)

    def start_node(self, node: Node) -> None:
        env = {**os.environ, "PATH": f"{PG_BIN}:{os.environ.get('PATH', '')}"}
        node.process = subprocess.Popen([PATRONI, str(node.config)], env=env,
                                        stdout=self._log(node.name), stderr=subprocess.STDOUT,
                                        **_as_postgres())
        self._close_logs()

    # -- what the tests ask --------------------------------------------------------------

    def primary(self) -> Node | None:
        return next((n for n in self.nodes if n.process and n.process.poll() is None
                     and n.role() == "primary"), None)

    def sync_standby(self) -> Node | None:
        status, body = http_json(f"{self.nodes[0].api}/cluster", timeout=1)
        if not status or not body:
            return None
        names = {m["name"] for m in body.get("members", ())
                 if m.get("role") == "sync_standby" and m.get("state") in ("streaming",
                                                                          "running")}
        return next((n for n in self.nodes if n.name in names), None)

    def url(self, nodes: list[Node] | None = None, database: str = DATABASE) -> str:
        """The libpq multi-host URL the service is given (read-write hosts only)."""
        hosts = ",".join(f"127.0.0.1:{n.pg_port}" for n in (nodes or self.nodes))
        return (f"postgresql+psycopg://postgres@{hosts}/{database}"
                "?target_session_attrs=read-write&connect_timeout=2")

    def psql(self, sql: str, database: str = DATABASE) -> str:
        primary = wait_for("a primary", self.primary, 60)
        out = subprocess.run([str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p",
                              str(primary.pg_port), "-U", "postgres", "-d", database,
                              "-Atc", sql], capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def run_as_postgres(self, *command: str, **options) -> subprocess.CompletedProcess:
        return subprocess.run(list(command), capture_output=True, text=True, check=True,
                              **_as_postgres(), **options)

    def kill_node(self, node: Node) -> None:
        """The server dies: Patroni and its PostgreSQL, kill -9, no goodbye."""
        pid = node.postmaster_pid()
        if node.process is not None:
            node.process.send_signal(signal.SIGKILL)
            node.process.wait()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for(f"{node.name}'s PostgreSQL to be gone", lambda: not _alive(pid), 30)

    def switchover(self, candidate: Node) -> None:
        current = self.primary()
        subprocess.run([PATRONICTL, "-c", str(self.nodes[0].config), "switchover",
                        "consentry-test", "--leader", current.name,
                        "--candidate", candidate.name, "--force"],
                       check=True, capture_output=True, text=True, **_as_postgres())

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(20)
                except subprocess.TimeoutExpired:
                    node.process.kill()
            pid = node.postmaster_pid()
            if pid and _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if self.etcd is not None:
            self.etcd.terminate()
            try:
                self.etcd.wait(10)
            except subprocess.TimeoutExpired:
                self.etcd.kill()
        self._close_logs()


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as gone
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
