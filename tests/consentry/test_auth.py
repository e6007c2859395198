"""Scoped keys: created once, stored hashed, enforced on every route."""

from sqlalchemy import select

from consentry.auth import OPEN_ENDPOINTS
from consentry.models import ApiKey


def test_keys_create_prints_key_alone_on_last_line(runner, client, session):
    result = runner.invoke(args=["keys", "create", "--name", "pc", "--scope", "policy:read"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("csk_") and " " not in key
    stored = session.scalars(select(ApiKey).where(ApiKey.name == "pc")).one()
    assert key not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64
    assert client.get("/v1/policy", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_unknown_scope_is_refused_by_cli(runner):
    result = runner.invoke(args=["keys", "create", "--name", "x", "--scope", "everything"])
    assert result.exit_code != 0


def test_duplicate_name_is_refused(runner):
    runner.invoke(args=["keys", "create", "--name", "dup", "--scope", "admin"])
    result = runner.invoke(args=["keys", "create", "--name", "dup", "--scope", "admin"])
    assert result.exit_code != 0 and "exists" in result.output


def test_missing_and_unknown_keys_are_401(client):
    assert client.get("/v1/policy").status_code == 401
    bad = {"Authorization": "Bearer csk_00000000_" + "0" * 64}
    r = client.get("/v1/policy", headers=bad)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"


def test_missing_scope_is_403_and_admin_implies_all(client, make_key):
    assert client.get("/v1/policy", headers=make_key("signals:read")).status_code == 403
    assert client.get("/v1/policy", headers=make_key("policy:read")).status_code == 200
    assert client.get("/v1/policy", headers=make_key("admin")).status_code == 200


def test_revoked_key_is_401(make_app, runner):
    app = make_app(API_KEY_CACHE_SECONDS=0)
    result = app.test_cli_runner().invoke(args=["keys", "create", "--name", "gone",
                                                "--scope", "admin"])
    key = result.stdout.strip().splitlines()[-1]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/policy", headers=headers).status_code == 200
    assert app.test_cli_runner().invoke(args=["keys", "revoke", "gone"]).exit_code == 0
    assert client.get("/v1/policy", headers=headers).status_code == 401
    listing = app.test_cli_runner().invoke(args=["keys", "list"]).output
    assert "gone" in listing and "revoked=-" not in listing.split("gone")[1].splitlines()[0]


def test_every_route_declares_a_scope_or_is_open(app):
    """A future route cannot ship unprotected: this walks the whole URL map."""
    open_docs = {"/openapi.json", "/docs", "/docs/<path:filename>"}
    unprotected = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule in OPEN_ENDPOINTS or rule.rule in open_docs:
            continue
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            handler = getattr(view_class, method.lower(), None) if view_class else view
            # an API key's scope, or (pages for people) a signed link to that page
            if not (getattr(handler, "required_scope", None)
                    or getattr(handler, "required_link", None)):
                unprotected.append(f"{method} {rule.rule}")
    assert unprotected == []


def test_rate_limit_per_key_is_429_with_retry_after(make_app, make_key):
    app = make_app(RATE_LIMIT_PER_SECOND=1)  # bursts of 2
    client = app.test_client()
    fast, other = make_key("policy:read"), make_key("policy:read")
    statuses = [client.get("/v1/policy", headers=fast).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    r = client.get("/v1/policy", headers=fast)
    assert r.get_json()["error"]["code"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
    assert client.get("/v1/policy", headers=other).status_code == 200  # per key


def test_no_rate_limit_by_default(client, make_key):
    key = make_key("policy:read")
    assert {client.get("/v1/policy", headers=key).status_code for _ in range(20)} == {200}
