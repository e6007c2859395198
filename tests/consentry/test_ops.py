"""Health, readiness, metrics and the well-known documents."""

import signal
import subprocess
import sys
import time
from pathlib import Path

from consentry import create_app
from consentry.signing import keys_by_kid, verify_document


def test_healthz_and_readyz(client):
    assert client.get("/healthz").status_code == 200
    r = client.get("/readyz")
    assert r.status_code == 200 and r.get_json()["migrations"] == "current"


def test_readyz_is_503_before_migrations(tmp_path, secrets_dir):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/empty.db",
                      "SECRETS_DIR": secrets_dir})
    r = app.test_client().get("/readyz")
    assert r.status_code == 503 and r.get_json()["migrations"] == "behind"


def test_metrics_count_requests_by_route_and_status(client):
    client.get("/healthz")
    client.get("/v1/policy")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'consentry_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="/v1/policy",status="401"' in text
    assert "consentry_http_request_duration_seconds_bucket" in text


def test_gpc_well_known(client):
    body = client.get("/.well-known/gpc.json").get_json()
    assert body["gpc"] is True and body["lastUpdate"]


def test_published_keys_verify_service_signatures(app, client):
    jwks = client.get("/.well-known/consentry-keys").get_json()
    store = app.extensions["consentry.secrets"]
    doc = {"hello": "world"}
    verify_document(keys_by_kid(jwks), doc, store.sign(doc))


def test_scheduler_process_starts_and_stops_cleanly(database_url, secrets_dir, tmp_path):
    if not database_url.startswith("sqlite"):
        return  # the process lifecycle does not depend on the engine
    env = {"CONSENTRY_DATABASE_URL": database_url, "CONSENTRY_SECRETS_DIR": secrets_dir,
           "PATH": str(Path(sys.executable).parent)}
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler"],
                            cwd=Path(__file__).resolve().parents[2], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = ""
    deadline = time.monotonic() + 30
    while "started" not in output and time.monotonic() < deadline:
        output += proc.stdout.readline()
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output + rest
    assert "stopped" in output + rest
