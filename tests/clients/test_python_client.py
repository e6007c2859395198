"""consentry-client is its own distribution: installed alone into a fresh venv (no Flask,
no SQLAlchemy), it works an engine's day against a served Consentry, and its
`consentry-verify` verifies an exported bundle."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.audit.helpers import make_bundle

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://consent.example.test"


@pytest.fixture(scope="session")
def client_venv(tmp_path_factory) -> Path:
    """A venv without system site packages holding only consentry-client: its bin dir."""
    where = tmp_path_factory.mktemp("client-venv")
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(where)
    bin_dir = where / "bin"
    install = subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         str(ROOT / "clients" / "python")], capture_output=True, text=True, timeout=540)
    assert install.returncode == 0, install.stdout + install.stderr
    return bin_dir


def test_the_client_installs_without_the_service(client_venv):
    # run outside the checkout, so `import consentry` cannot find the service's source
    probe = subprocess.run([client_venv / "python", "-c", "import flask"], cwd=client_venv,
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0 and "No module named 'flask'" in probe.stderr
    for heavy in ("sqlalchemy", "consentry", "consent", "audit"):
        probe = subprocess.run([client_venv / "python", "-c", f"import {heavy}"],
                               cwd=client_venv, capture_output=True, text=True, timeout=60)
        assert probe.returncode != 0, heavy
    listed = subprocess.run([client_venv / "python", "-m", "pip", "list", "--format=json"],
                            capture_output=True, text=True, timeout=60)
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "consentry-client" in names and "cryptography" in names
    assert not names & {"flask", "sqlalchemy", "consentry", "werkzeug"}


@pytest.fixture
def app(make_app):
    return make_app(PUBLIC_URL=ISSUER)


def test_an_engine_in_a_fresh_venv_against_a_served_consentry(client_venv, live_server,
                                                              make_key):
    keys = [make_key(scope)["Authorization"][7:]
            for scope in ("signals:read", "preferences:write", "decisions:write")]
    run = subprocess.run([client_venv / "python", Path(__file__).with_name("engine_script.py"),
                          live_server, *keys, ISSUER], cwd=client_venv, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert "behavioral" in out["first_allowed"]
    assert out["cached_before"] and out["cached_until_sync"]  # cached until the feed says
    assert out["changes_seen"] >= 1 and not out["cached_after_sync"]
    assert "behavioral" not in out["second_allowed"]
    assert out["receipt_verifies"]
    assert out["token_claims"] == {"iss": ISSUER, "sub": "venv-1",
                                   "allowed": out["second_allowed"]}
    assert out["gate_verify"] == "venv-1" and out["wrong_issuer_refused"]
    assert out["batch"]["venv-1"] == out["second_allowed"]
    assert out["decision"] == {"conformant": True, "has_id": True}


def test_consentry_verify_from_the_fresh_venv(client_venv, app, live_server, make_key,
                                              tmp_path):
    import urllib.request

    writer = make_key("preferences:write")
    for n in range(3):
        body = json.dumps({"source": "t", "jurisdiction": "EU", "choices": [
            {"purpose": "personalization", "status": "granted"}]}).encode()
        urllib.request.urlopen(urllib.request.Request(
            f"{live_server}/v1/subjects/v-{n}/consents", data=body, method="PUT",
            headers={**writer, "Content-Type": "application/json"}), timeout=10).read()
    bundle = make_bundle(app, tmp_path / "bundle.zip")
    keys = tmp_path / "keys.json"
    with urllib.request.urlopen(f"{live_server}/.well-known/consentry-keys") as response:
        keys.write_bytes(response.read())
    verify = client_venv / "consentry-verify"

    def run(*args):
        return subprocess.run([verify, *map(str, args)], cwd=client_venv, capture_output=True,
                              text=True, timeout=120)

    ok = run(bundle, "--public-key", keys)
    assert ok.returncode == 0 and "INTACT" in ok.stdout, ok.stdout + ok.stderr
    assert run(bundle).returncode == 3
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bundle.read_bytes()[:-200])
    assert run(damaged, "--public-key", keys).returncode == 2
    assert run("--no-such-option").returncode == 4
    # a venv without cryptography: the verifier cannot run at all, and says so
    broken = subprocess.run(
        [client_venv / "python", "-c",
         "import sys; sys.modules['cryptography'] = None\n"
         "from consentry_client.cli import main\n"
         f"sys.exit(main([{str(bundle)!r}]))"], cwd=client_venv, capture_output=True,
        text=True, timeout=60)
    assert broken.returncode == 4 and "could not run" in broken.stderr
    assert sys.executable not in str(verify)
