"""The JavaScript engine client (clients/js), run by Node's own test runner against a
served Consentry: every test file under clients/js/test/ must pass and none be skipped.

Without Node 20 or later the test is skipped with one line, unless REQUIRE_NODE=1 (CI),
when it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "js"
REQUIRE_NODE = os.environ.get("REQUIRE_NODE") == "1"


def _node() -> tuple[str | None, str | None]:
    """(path of node, None) when Node 20+ is there, else (None, why not)."""
    node = shutil.which("node")
    if node is None:
        return None, "no node on PATH (needs Node 20 or later; Debian 12 ships 18)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
    major = re.match(r"v(\d+)\.", version)
    if not major or int(major.group(1)) < 20:
        return None, f"node {version or '?'} is older than the client's Node 20"
    return node, None


@pytest.fixture(scope="module")
def node():
    path, why = _node()
    if why is not None:
        if REQUIRE_NODE:
            pytest.fail(f"REQUIRE_NODE=1 but {why}", pytrace=False)
        pytest.skip(f"JavaScript client tests skipped: {why}")
    return path


def test_js_client_against_a_served_consentry(node, app, live_server, make_key):
    key = make_key("signals:read", "preferences:write", "decisions:write", "explanations:read",
                   name="js-engine")["Authorization"].removeprefix("Bearer ")
    # The served tokens' `iss` is CONSENTRY_PUBLIC_URL, not the address the tests use.
    env = {**os.environ, "CONSENTRY_URL": live_server, "CONSENTRY_API_KEY": key,
           "CONSENTRY_ISSUER": app.config["PUBLIC_URL"], "NO_COLOR": "1"}
    run = subprocess.run([node, "--test", "--test-reporter=tap", "test/"], cwd=CLIENT,
                         env=env, capture_output=True, text=True, timeout=600, check=False)
    report = run.stdout + run.stderr
    counts = {name: int(n) for name, n in
              re.findall(r"^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$", run.stdout,
                         re.MULTILINE)}
    assert run.returncode == 0, report
    assert counts.get("pass", 0) >= 20, report  # the files ran, not an empty directory
    assert counts.get("tests") == counts.get("pass"), report  # none failed, skipped, todo
