"""A Node receiver verifies Consentry's deliveries with the npm `standardwebhooks`
package. Its dependencies come from tests/webhooks/node/package-lock.json (`npm ci`,
run here when node_modules is missing). Without Node 20+ or npm the test is skipped
with one line, unless REQUIRE_NODE=1 (CI), when it fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tests.clients.test_js_client import REQUIRE_NODE, _node
from tests.webhooks.conftest import drain, register, write_consent

RECEIVER = Path(__file__).resolve().parent / "node"


@pytest.fixture(scope="module")
def node():
    path, why = _node()
    npm = shutil.which("npm")
    if why is None and npm is None:
        why = "no npm on PATH"
    if why is not None:
        if REQUIRE_NODE:
            pytest.fail(f"REQUIRE_NODE=1 but {why}", pytrace=False)
        pytest.skip(f"Node webhook receiver skipped: {why}")
    if not (RECEIVER / "node_modules" / "standardwebhooks").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=RECEIVER, check=True,
                       capture_output=True, timeout=300)
    return path


def test_a_node_receiver_verifies_every_delivery_with_standardwebhooks(
        node, hook_app, hook_client, hook_admin):
    class Stub:  # register() hands the secret to a receiver object
        secrets: list[str] = []
        url = "http://127.0.0.1:1/"

    stub = Stub()
    body = register(hook_client, hook_admin, stub, events=["consent.changed"],
                    url="http://127.0.0.1:9/placeholder")
    secret = body["secret"]
    process = subprocess.Popen([node, "receiver.mjs"], cwd=RECEIVER, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "WEBHOOK_SECRETS": secret})
    try:
        port = int(process.stdout.readline().split()[1])
        lines: list[dict] = []
        reader = threading.Thread(target=lambda: [lines.append(json.loads(line))
                                                  for line in process.stdout], daemon=True)
        reader.start()
        register(hook_client, hook_admin, stub, events=["consent.changed"],
                 url=f"http://127.0.0.1:{port}/hooks")
        for status in ("granted", "denied"):
            write_consent(hook_client, hook_admin, "n-1", status)
        rotated = hook_client.post("/v1/webhooks/hook/rotate-secret",
                                   headers=hook_admin).get_json()["secret"]
        assert rotated != secret
        # the receiver knows only the old secret: it still signs, for 24 hours
        write_consent(hook_client, hook_admin, "n-1", "granted")
        drain(hook_app)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    reader.join(timeout=5)
    assert [line["verified"] for line in lines] == [True, True, True], (lines, err)
    assert [line["data"]["subject_id"] for line in lines] == ["n-1"] * 3
    marketing = [next(p for p in line["data"]["purposes"] if p["purpose"] == "marketing")
                 for line in lines]
    assert [p["allowed"] for p in marketing] == [True, False, True]
    listed = hook_client.get("/v1/webhooks/hook/deliveries", headers=hook_admin).get_json()
    assert {d["last_response_status"] for d in listed["deliveries"]} == {204}
