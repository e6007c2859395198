"""PgBouncer in transaction mode between a web host and the primary: two server
connections shared by many clients' transactions. Nothing may rely on session state:
no prepared statement kept on a server connection (CONSENTRY_DB_PREPARED_STATEMENTS
=false), no SET without LOCAL, no advisory lock."""

from __future__ import annotations

import subprocess
import threading
import uuid

import pytest

from tests.cluster.conftest import put_consent, record
from tests.cluster.harness import PGBOUNCER, _as_postgres, _chown, free_port, http_json, wait_for

pytestmark = pytest.mark.cluster


@pytest.fixture
def bouncer(cluster):
    primary = wait_for("a primary", cluster.primary, 60)
    root = cluster.root / f"pgbouncer-{uuid.uuid4().hex[:6]}"
    root.mkdir()
    _chown(root)
    port = free_port()
    (root / "users.txt").write_text('"postgres" ""\n')
    (root / "pgbouncer.ini").write_text(f"""[databases]
consentry = host=127.0.0.1 port={primary.pg_port} dbname=consentry user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {root / 'users.txt'}
pool_mode = transaction
default_pool_size = 2
max_client_conn = 200
logfile = {root / 'pgbouncer.log'}
pidfile = {root / 'pgbouncer.pid'}
""")
    for name in ("users.txt", "pgbouncer.ini"):
        _chown(root / name)
    process = subprocess.Popen([PGBOUNCER, str(root / "pgbouncer.ini")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               **_as_postgres())
    wait_for("pgbouncer", lambda: subprocess.run(
        ["pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True
    ).returncode == 0 or process.poll() is not None, 30)
    assert process.poll() is None, (root / "pgbouncer.log").read_text()
    yield port
    process.terminate()
    process.wait(10)


def test_a_web_host_behind_pgbouncer_in_transaction_mode_serves_every_request(
        service, bouncer):
    host_env = {**service.env,
                "CONSENTRY_DATABASE_URL":
                    f"postgresql+psycopg://postgres@127.0.0.1:{bouncer}/consentry",
                "CONSENTRY_DB_PREPARED_STATEMENTS": "false"}
    saved, service.env = service.env, host_env
    try:
        base = service.start_host()
    finally:
        service.env = saved
    statuses: dict = {}
    lock = threading.Lock()

    def client(number: int) -> None:
        for i in range(15):
            subject = f"bouncer-{number}"
            code, _ = put_consent(base, service.admin, subject, f"b-{number}-{i}",
                                  "granted" if i % 2 else "denied")
            read, _ = http_json(f"{base}/v1/subjects/{subject}/consents",
                                headers=service.admin)
            gate, _ = http_json(f"{base}/v1/subjects/{subject}/allowed-signals"
                                "?purpose=personalization&channel=web", headers=service.admin)
            with lock:
                for c in (code, read, gate):
                    statuses[c] = statuses.get(c, 0) + 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    record("pgbouncer", clients=12, requests=sum(statuses.values()),
           statuses={str(k): v for k, v in statuses.items()}, server_connections=2)
    assert statuses == {200: 12 * 15 * 3}, statuses
