"""Links, not keys: short-lived signed URLs bound to one person (and one decision)."""

from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consentry.canonical import b64url, b64url_decode, canonical_json
from consentry.clock import utcnow
from consentry.secretstore import get_keys
from consentry.signing import sign_jws
from pages.links import HEADER_TYPE, issue_link, seal, unseal
from tests.pages.conftest import path_of

REFUSED = "This link can't be used"


def test_a_preference_link_is_an_absolute_url_on_the_requests_host(client, backend):
    r = client.post("/v1/subjects/u-42/preference-link", json={}, headers=backend,
                    base_url="https://consent.example.org")
    assert r.status_code == 201
    body = r.get_json()
    assert body["url"].startswith("https://consent.example.org/pages/preferences/")
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)
    page = client.get(path_of(body["url"]))  # no Authorization header at all
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "Your privacy choices" in page.get_data(as_text=True)


def test_without_a_body_too(client, backend):
    r = client.post("/v1/subjects/u-42/preference-link", headers=backend)
    assert r.status_code == 201, r.get_json()


def test_the_lifetime_is_configurable(make_app, make_key):
    app = make_app(PAGE_LINK_SECONDS=120)
    key = {"Authorization": "Bearer " + _key(app)}
    body = app.test_client().post("/v1/subjects/u-1/preference-link", json={},
                                  headers=key).get_json()
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert timedelta(seconds=100) < expires - datetime.now(UTC) <= timedelta(seconds=120)


def _key(app):
    from consentry import auth
    from consentry.db import get_db
    with app.app_context(), get_db(app).transaction() as s:
        return auth.create_key(s, "short-links", ["preferences:write", "preferences:read"])


def test_links_take_the_scopes_of_what_they_open(client, make_key, decide):
    reader = make_key("preferences:read", "explanations:read")
    writer = make_key("preferences:write")
    decision_id = decide()
    assert client.post("/v1/subjects/u-42/preference-link", json={},
                       headers=reader).status_code == 403
    assert client.post(f"/v1/subjects/u-42/explanations/{decision_id}/link", json={},
                       headers=writer).status_code == 403
    assert client.post(f"/v1/subjects/u-42/explanations/{decision_id}/link", json={},
                       headers=reader).status_code == 201
    assert client.post("/v1/subjects/u-42/preference-link", json={}).status_code == 401


def test_an_explanation_link_only_for_the_subjects_own_decision(client, backend, decide):
    decision_id = decide(subject="someone-else")
    r = client.post(f"/v1/subjects/u-42/explanations/{decision_id}/link", json={},
                    headers=backend)
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    assert client.post("/v1/subjects/u-42/explanations/nope/link", json={},
                       headers=backend).status_code == 404


@pytest.mark.parametrize("return_url", [
    "https://evil.example.net/", "http://example.com/", "https://example.com.evil.net/",
    "javascript:alert(1)", "//example.com/", "/account", "https://user@example.com/",
])
def test_return_url_only_on_the_policys_page_origins(client, backend, return_url):
    r = client.post("/v1/subjects/u-42/preference-link", json={"return_url": return_url},
                    headers=backend)
    assert r.status_code == 422
    assert list(r.get_json()["error"]["fields"]) == ["return_url"]


def test_a_return_url_becomes_the_pages_back_link(client, preference_link):
    html = client.get(preference_link(return_url="https://example.com/account?tab=1")
                      ).get_data(as_text=True)
    assert '<a href="https://example.com/account?tab=1" rel="noreferrer">Back</a>' in html
    assert ">Back<" not in client.get(preference_link()).get_data(as_text=True)


def test_bad_link_requests_are_422(client, backend):
    for body in ({"language": "fr"}, {"return_url": ""}, {"colour": "blue"},
                 {"return_url": "https://example.com/" + "x" * 2000}):
        r = client.post("/v1/subjects/u-42/preference-link", json=body, headers=backend)
        assert r.status_code == 422, body


def test_pages_carry_strict_security_headers(client, preference_link):
    r = client.get(preference_link())
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "style-src 'self'" in csp
    assert "script-src" not in csp  # no scripts at all
    assert csp.endswith("frame-ancestors https://example.com")
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["Cache-Control"] == "no-store"
    assert "noindex" in r.headers["X-Robots-Tag"]
    html = r.get_data(as_text=True)
    assert "http://" not in html.replace('href="http://localhost', "") \
        and "https://" not in html.replace('href="https://example.com', "")


def _refused(response) -> None:
    """A 403 page that names no one and offers nothing to do."""
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 403 and response.mimetype == "text/html"
    assert REFUSED in html
    for trace in ("u-42", "<form", "Receipt", "Back", "Personalization"):
        assert trace not in html, trace


def _tokens_that_open_nothing(app, client, backend, preference_path, decide):
    keys = get_keys(app)
    token = preference_path.rsplit("/", 1)[1]
    signed = unseal(keys, token)  # the JWS inside the opaque token
    header, body, signature = signed.split(".")
    claims = __import__("json").loads(b64url_decode(body))
    altered = b64url(canonical_json({**claims, "sub": "u-43"}))
    forged = sign_jws(Ed25519PrivateKey.generate(), keys.active_kid, claims, HEADER_TYPE)
    # the link's claims, genuinely signed, but typed as a consent token (RFC 8725 §3.11)
    mistyped = keys.sign_token(claims)
    expired = issue_link(keys, page="preferences", subject_id="u-42",
                         now=utcnow() - timedelta(hours=2), seconds=3600, issued_by="t").token
    consent_token = client.get("/v1/subjects/u-42/allowed-signals?purpose=personalization",
                               headers=backend).get_json()["token"]
    explanation = issue_link(keys, page="explanation", subject_id="u-42", now=utcnow(),
                             seconds=60, issued_by="t", decision_id=decide()).token
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    return {"altered": seal(keys, f"{header}.{altered}.{signature}"),
            "forged": seal(keys, forged), "typed as a consent token": seal(keys, mistyped),
            "the signed link unsealed": signed, "a sealed byte flipped": flipped,
            "expired": expired, "consent token": consent_token,
            "explanation link": explanation, "garbage": "not-a-token",
            "truncated": token[:-5], "huge": token + "A" * 7000}


def test_expired_forged_or_altered_tokens_get_a_403_page_naming_no_one(
        app, client, backend, preference_link, decide, events):
    path = preference_link()
    for name, token in _tokens_that_open_nothing(app, client, backend, path, decide).items():
        _refused(client.get(f"/pages/preferences/{token}"))
        _refused(client.post(f"/pages/preferences/{token}", data={"shown": ""}))
        _refused(client.get(f"/pages/preferences/{token}/receipts/x"))
        assert events() == [], name
    assert client.get(path).status_code == 200


def test_a_preference_link_opens_no_explanation_page(client, preference_link, decide):
    token = preference_link().rsplit("/", 1)[1]
    _refused(client.get(f"/pages/explanations/{token}"))


def test_the_refused_page_is_in_the_browsers_language(client):
    r = client.get("/pages/preferences/x.y.z", headers={"Accept-Language": "de"})
    assert r.status_code == 403
    assert "Dieser Link kann nicht verwendet werden" in r.get_data(as_text=True)
    assert '<html lang="de">' in r.get_data(as_text=True)


def test_dev_command_prints_a_working_link(app, runner, client):
    result = runner.invoke(args=["dev", "preference-link", "demo-user", "--base-url",
                                 "http://127.0.0.1:8000", "--language", "de"])
    assert result.exit_code == 0, result.output
    url = result.output.strip()
    assert url.startswith("http://127.0.0.1:8000/pages/preferences/")
    assert "Ihre Datenschutzeinstellungen" in client.get(path_of(url)).get_data(as_text=True)
    assert runner.invoke(args=["dev", "preference-link", "not ok!"]).exit_code != 0


def test_a_back_link_the_policy_no_longer_allows_is_dropped(make_app, app, preference_link,
                                                            tmp_path):
    import tomli_w

    from consentry.policy import get_policy
    path = preference_link(return_url="https://example.com/account")
    stricter = {**get_policy(app).to_dict(), "page_origins": ["https://shop.example"]}
    (tmp_path / "policy.toml").write_text(tomli_w.dumps(stricter))
    later = make_app(POLICY_FILE=str(tmp_path / "policy.toml"), RECORD_POLICY_ON_START=False)
    html = later.test_client().get(path).get_data(as_text=True)
    assert "Your privacy choices" in html and "example.com/account" not in html


def test_every_page_route_is_opened_only_by_its_link(app, client):
    """Each page route declares the link it needs, and answers 403 without it."""
    page_rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/pages/")
                  and r.endpoint not in ("pages.unknown", "pages.brand_css", "pages.brand_logo")]
    # (the 404 page of any other path, and the company's look: they name no one)
    assert len(page_rules) >= 6
    for rule in page_rules:
        view = app.view_functions[rule.endpoint]
        assert view.required_link in ("preferences", "explanation")
        path = rule.rule.replace("<token>", "x.y.z").replace("<receipt_id>", "r") \
            .replace("<request_id>", "q")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert client.open(path, method=method).status_code == 403, (method, path)
