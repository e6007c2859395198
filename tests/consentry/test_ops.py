"""Health, readiness, metrics and the well-known documents."""

import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import tomli_w
from prometheus_client.parser import text_string_to_metric_families

from consentry import create_app
from consentry.clock import rfc3339, utcnow
from consentry.metrics import METHODS
from consentry.policy import load_policy
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


def _samples(client) -> list:
    """Every sample of /metrics, read with Prometheus' own parser (which must accept it)."""
    text = client.get("/metrics").get_data(as_text=True)
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def _violate(client, key, surface: str):
    """A decision using a sensitive category nobody granted: one violation."""
    r = client.post("/v1/decisions", headers=key, json={
        "subject_id": "u-metrics", "surface": surface, "channel": "web",
        "purpose": "personalization", "item": {"id": "sku-1"},
        "signals_used": [{"category": "location_precise"}],
        "decided_at": rfc3339(utcnow())})
    assert r.status_code == 201 and r.get_json()["conformant"] is False


def test_metrics_labels_hold_no_client_or_engine_text(client, make_key):
    for method in ("BREW", "EMAIL:ALICE@EXAMPLE.COM", "GET"):
        client.open("/healthz", method=method)
    _violate(client, make_key("decisions:write"), "email:alice@example.com")
    samples = _samples(client)
    methods = {s.labels["method"] for s in samples if "method" in s.labels}
    assert methods <= METHODS | {"other"} and {"GET", "other"} <= methods
    violations = [s for s in samples if s.name == "consentry_decision_violations_total"]
    assert [(s.labels, s.value) for s in violations] == [
        ({"category": "location_precise", "surface": "other"}, 1.0)]
    assert not any("alice" in value.lower() for s in samples for value in s.labels.values())


def test_surfaces_the_policy_lists_are_counted_by_name(make_app, make_key, tmp_path):
    data = load_policy().to_dict()
    data["surfaces"] = ["homepage_hero"]
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(tomli_w.dumps(data))
    app = make_app(POLICY_FILE=str(policy_file))
    client, key = app.test_client(), make_key("decisions:write")
    _violate(client, key, "homepage_hero")
    _violate(client, key, "homepage_hero")
    _violate(client, key, "user:bob")
    violations = {s.labels["surface"]: s.value for s in _samples(client)
                  if s.name == "consentry_decision_violations_total"}
    assert violations == {"homepage_hero": 2.0, "other": 1.0}


class _Loads(HTMLParser):
    """Every URL a page makes the browser load, with the tag's integrity attribute."""

    def __init__(self):
        super().__init__()
        self.urls: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href"):
            if attrs.get(name) and (tag != "a"):
                self.urls.append((attrs[name], attrs.get("integrity")))


def test_docs_load_nothing_from_another_origin(client):
    page = client.get("/docs")
    assert page.status_code == 200
    parser = _Loads()
    parser.feed(page.get_data(as_text=True))
    assert len(parser.urls) >= 3  # the stylesheet and the two scripts
    base = "http://localhost/docs"
    for url, integrity in parser.urls:
        absolute = urljoin(base, url)
        assert urlsplit(absolute).netloc == "localhost" or integrity, url
        asset = client.get(urlsplit(absolute).path)
        assert asset.status_code == 200 and len(asset.data) > 1000, url
        asset.close()
    # the browser is told the same, and the UI never calls the online validator
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "http" not in csp
    assert '"validatorUrl": null' in page.get_data(as_text=True)


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


@pytest.mark.browser
def test_docs_render_in_a_browser_from_this_origin_only(live_server, page, database_url):
    if not database_url.startswith("sqlite"):
        return  # the page does not depend on the engine
    requested, refused = [], []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: refused.append(m.text)
            if "Content Security Policy" in m.text else None)
    page.goto(f"{live_server}/docs")
    page.wait_for_selector(".opblock-summary-path[data-path='/healthz']", timeout=15_000)
    assert requested and all(url.startswith(live_server + "/") for url in requested), requested
    assert refused == []
