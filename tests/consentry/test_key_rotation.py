"""Rotating the signing key while processes run: published everywhere before it signs."""

import json
import threading
import time

from consent.token import verify_token
from consentry.canonical import b64url_decode
from consentry.secretstore import get_keys

RELOAD = 0.5  # CONSENTRY_KEY_RELOAD_SECONDS of every process here


def _kid(token: str) -> str:
    return json.loads(b64url_decode(token.split(".")[0]))["kid"]


def test_running_processes_publish_then_sign_with_a_rotated_key(make_app, make_key, tmp_path):
    config = {"SECRETS_DIR": str(tmp_path / "secrets"), "KEY_RELOAD_SECONDS": RELOAD}
    rotating, serving, idle = make_app(**config), make_app(**config), make_app(**config)
    engine = make_key("signals:read")
    client = serving.test_client()

    def token() -> str:
        r = client.get("/v1/subjects/u-1/allowed-signals?purpose=analytics", headers=engine)
        return r.get_json()["token"]

    old_kid = _kid(token())
    idle_keys = idle.test_client().get("/.well-known/consentry-keys").get_json()
    assert [k["kid"] for k in idle_keys["keys"]] == [old_kid]

    result = {}
    rotation = threading.Thread(target=lambda: result.update(
        out=rotating.test_cli_runner().invoke(args=["secrets", "rotate-signing-key"])))
    started = time.monotonic()
    rotation.start()
    published_at = signed_at = None
    overlap = False  # seen publishing the new key while still signing with the old
    while time.monotonic() - started < 3 * RELOAD + 5 and signed_at is None:
        issued = token()
        # whoever fetches the keys after a token was issued can verify it, from any process
        for app in (serving, rotating):
            jwks = app.test_client().get("/.well-known/consentry-keys").get_json()
            verify_token(issued, jwks)
        served = {k["kid"] for k in client.get("/.well-known/consentry-keys").get_json()["keys"]}
        if published_at is None and len(served) == 2:
            published_at = time.monotonic() - started
        if _kid(issued) != old_kid:
            signed_at = time.monotonic() - started
        elif len(served) == 2:
            overlap = True
        time.sleep(0.02)
    rotation.join()
    assert result["out"].exit_code == 0, result["out"].output
    new_kid = result["out"].stdout.strip().splitlines()[-1]
    assert new_kid != old_kid
    # published by the serving process within one reload interval of the rotation
    assert published_at is not None and published_at <= RELOAD + 1
    # signing switched only after that, and within the bound
    assert overlap and signed_at is not None and published_at < signed_at <= 3 * RELOAD + 1
    assert _kid(token()) == new_kid
    # a process that was idle throughout publishes the new key on its first request
    idle_keys = idle.test_client().get("/.well-known/consentry-keys").get_json()
    assert {k["kid"] for k in idle_keys["keys"]} == {old_kid, new_kid}
    assert idle_keys["active_kid"] == new_kid == get_keys(idle).active_kid
    verify_token(token(), idle_keys)


def test_a_broken_key_directory_keeps_the_loaded_keys(make_app, tmp_path, caplog):
    secrets = tmp_path / "secrets"
    app = make_app(SECRETS_DIR=str(secrets), KEY_RELOAD_SECONDS=0)
    keys = get_keys(app)
    kid = keys.active_kid
    (secrets / "signing" / "ACTIVE").write_text("ed25519-missing")
    signature = keys.sign({"a": 1})  # still signs, with the key it had
    assert signature["kid"] == kid
    assert any("not reloaded" in r.getMessage() for r in caplog.records)


def test_the_engine_client_fetches_the_keys_again_for_a_new_key_id(make_app, make_key,
                                                                   tmp_path, monkeypatch):
    import pytest
    from consentry_client import GateClient
    from consentry_client import gate as gate_module
    from werkzeug.serving import make_server

    from consentry.signing import UnknownKeyError

    app = make_app(SECRETS_DIR=str(tmp_path / "secrets"), KEY_RELOAD_SECONDS=0)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        key = make_key("signals:read")["Authorization"].removeprefix("Bearer ")
        gate = GateClient(f"http://127.0.0.1:{server.server_port}", key,
                          issuer=app.config["PUBLIC_URL"])
        before = gate.allowed_signals("u-1", "analytics").token
        assert gate.verify(before, "u-1", "analytics")["sub"] == "u-1"
        get_keys(app).rotate_signing_key()
        after = gate.allowed_signals("u-2", "analytics").token
        assert _kid(after) != _kid(before)
        with pytest.raises(UnknownKeyError):  # keys fetched a moment ago: not again yet
            gate.verify(after, "u-2", "analytics")
        monkeypatch.setattr(gate_module, "KEYS_REFETCH_SECONDS", 0.0)
        assert gate.verify(after, "u-2", "analytics")["sub"] == "u-2"
        # the old key stays published
        assert gate.verify(before, "u-1", "analytics")["sub"] == "u-1"
    finally:
        server.shutdown()
        thread.join()
