"""The console over HTTP: sessions, scopes, CSRF, and each page doing what staff need."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from html.parser import HTMLParser

import pytest
from sqlalchemy import select, update

from audit.models import AuditExport
from consentry import auth
from consentry.db import get_db
from console.models import ConsoleSession
from console.sessions import LIFETIME
from tests.console.conftest import (
    csrf_of,
    html_client,
    new_key,
    past,
    post_form,
    record_violation,
    run_exports,
    run_retention,
    sign_in,
    write_consent,
)

PAGES = ["/console/", "/console/audit", "/console/exports", "/console/retention",
         "/console/decisions", "/console/reports"]


def _cookie(response, name: str) -> str | None:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            return header
    return None


def _sessions(app) -> list[ConsoleSession]:
    with app.app_context(), get_db(app).transaction(write=False) as s:
        return list(s.scalars(select(ConsoleSession)))


# -- signing in and out ----------------------------------------------------------------------


def test_a_valid_key_opens_a_session_whose_cookie_is_httponly_strict_and_holds_no_key(app):
    key, name = new_key(app, "audit:read")
    client = html_client(app)
    r = sign_in(client, key)
    assert r.status_code == 303 and r.headers["Location"].endswith("/console/")
    cookie = _cookie(r, "consentry_console")
    assert cookie is not None
    attributes = [a.strip() for a in cookie.split(";")]
    assert "HttpOnly" in attributes and "SameSite=Strict" in attributes
    assert "Path=/console" in attributes and "Secure" not in attributes  # plain http here
    max_age = int(next(a for a in attributes if a.startswith("Max-Age=")).split("=")[1])
    assert 0 < max_age <= 8 * 3600
    token = cookie.split(";")[0].split("=", 1)[1]
    assert key not in cookie and key.split("_")[1] not in token
    [stored] = _sessions(app)
    assert stored.key_name == name and stored.id_hash != token  # only its hash is stored
    assert stored.expires_at - stored.created_at <= LIFETIME == timedelta(hours=8)
    assert client.get("/console/audit").status_code == 200


def test_the_cookie_is_secure_when_served_over_https(app):
    key, _ = new_key(app, "audit:read")
    client = html_client(app)
    form = client.get("/console/login", base_url="https://console.example")
    r = client.post("/console/login", base_url="https://console.example",
                    data={"api_key": key, "csrf_token": csrf_of(form.text)})
    assert r.status_code == 303
    assert "Secure" in [a.strip() for a in _cookie(r, "consentry_console").split(";")]


def test_a_wrong_key_gets_the_form_again_with_an_error_and_no_session(app):
    client = html_client(app)
    r = sign_in(client, "csk_deadbeef_" + "0" * 64)
    assert r.status_code == 401
    assert "unknown or revoked" in r.text and 'name="api_key"' in r.text
    assert _cookie(r, "consentry_console") is None and _sessions(app) == []
    assert client.get("/console/audit").status_code == 302


def test_without_a_session_pages_lead_to_the_sign_in_form_and_back(app):
    key, _ = new_key(app, "audit:read")
    client = html_client(app)
    r = client.get("/console/audit?action=consent.")
    assert r.status_code == 302 and "/console/login?next=" in r.headers["Location"]
    form = client.get(r.headers["Location"])
    r = client.post("/console/login", data={"api_key": key, "csrf_token": csrf_of(form.text),
                                            "next": "/console/audit?action=consent."})
    assert r.headers["Location"] == "/console/audit?action=consent."
    # A "next" off the console (an open redirect) is ignored.
    other = html_client(app)
    form = other.get("/console/login")
    r = other.post("/console/login", data={"api_key": key, "csrf_token": csrf_of(form.text),
                                           "next": "//evil.example/console/"})
    assert r.headers["Location"] == "/console/"


def test_signing_out_ends_the_session_for_good(app, console):
    client, _ = console("audit:read")
    cookie = client.get_cookie("consentry_console", path="/console").value
    r = post_form(client, "/console/audit", "/console/logout")
    assert r.status_code == 303 and r.headers["Location"].endswith("/console/login")
    assert client.get("/console/audit").status_code == 302
    replay = html_client(app)
    replay.set_cookie("consentry_console", cookie, path="/console")
    assert replay.get("/console/audit").status_code == 302
    assert _sessions(app) == []


def test_an_expired_session_is_refused(app, console):
    client, _ = console("audit:read")
    with app.app_context(), get_db(app).transaction() as s:
        s.execute(update(ConsoleSession).values(expires_at=past(0.01)))
    assert client.get("/console/audit").status_code == 302
    r = client.post("/console/retention/runs", data={"csrf_token": "x"})
    assert r.status_code == 401 and "Sign in again" in r.text


def test_revoking_the_key_ends_its_sessions_at_once(app, console):
    client, name = console("audit:read")
    assert client.get("/console/audit").status_code == 200
    with app.app_context(), get_db(app).transaction() as s:
        auth.revoke_key(s, name)
    assert client.get("/console/audit").status_code == 302
    assert client.get("/console/").status_code == 302


# -- scopes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("page,scope", [("/console/audit", "audit:read"),
                                        ("/console/exports", "audit:export"),
                                        ("/console/retention", "retention:admin"),
                                        ("/console/decisions", "explanations:read"),
                                        ("/console/reports", "reports:read")])
def test_each_page_needs_its_scope_and_refuses_with_an_html_403(console, page, scope):
    allowed, _ = console(scope)
    assert allowed.get(page).status_code == 200
    other = "policy:read"
    refused, name = console(other)
    r = refused.get(page)
    assert r.status_code == 403 and r.mimetype == "text/html"
    assert f"lacks the scope {scope!r}" in unescape(r.text) and name in r.text
    assert "<code>forbidden</code>" in r.text


def test_the_navigation_shows_only_the_pages_the_key_may_open(console):
    client, _ = console("audit:read", "reports:read")
    nav = client.get("/console/").text.split("</nav>")[0]
    assert "/console/audit" in nav and "/console/reports" in nav
    assert "/console/retention" not in nav and "/console/exports" not in nav


# -- CSRF ------------------------------------------------------------------------------------


class _Forms(HTMLParser):
    """Each POST form on a page, and whether it carries a csrf_token field."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("method", "get").lower() == "post":
            self.forms.append({"action": attrs.get("action"), "csrf": False})
        elif tag == "input" and attrs.get("name") == "csrf_token" and self.forms:
            self.forms[-1]["csrf"] = bool(attrs.get("value"))


def test_every_post_form_on_every_page_carries_a_csrf_token(app, console, admin):
    client, _ = console("admin")
    client.post("/v1/retention/holds", headers=admin, json={"subject_id": "u-1", "reason": "r"})
    seen = 0
    for page in PAGES + ["/console/login"]:
        parser = _Forms()
        parser.feed(client.get(page).text)
        assert all(f["csrf"] for f in parser.forms), (page, parser.forms)
        seen += len(parser.forms)
    assert seen >= 6  # sign out on each page, dry run, add hold, lift hold


def test_a_post_without_a_valid_csrf_token_is_refused_and_changes_nothing(app, console, admin):
    client, _ = console("retention:admin")
    other, _ = console("retention:admin")
    foreign = csrf_of(other.get("/console/retention").text)  # another session's token
    hold = {"subject_id": "u-9", "reason": "litigation"}
    for data in (hold, {**hold, "csrf_token": "forged"}, {**hold, "csrf_token": foreign}):
        r = client.post("/console/retention/holds", data=data)
        assert r.status_code == 403 and "csrf_failed" in r.text
    r = client.post("/console/retention/runs", data={})
    assert r.status_code == 403
    assert client.post("/console/logout", data={}).status_code == 403
    assert client.get("/console/retention").status_code == 200  # still signed in
    holds = client.get("/v1/retention/holds", headers=admin).get_json()["holds"]
    runs = client.get("/v1/retention/runs", headers=admin).get_json()["runs"]
    assert holds == [] and runs == []


def test_signing_in_needs_the_forms_csrf_token_too(app):
    key, _ = new_key(app, "audit:read")
    client = html_client(app)
    client.get("/console/login")
    r = client.post("/console/login", data={"api_key": key})
    assert r.status_code == 403 and _sessions(app) == []
    fresh = html_client(app)  # no sign-in cookie at all
    assert fresh.post("/console/login", data={"api_key": key, "csrf_token": "x"}).status_code \
        == 403


def test_a_client_that_takes_no_html_gets_the_apis_error_envelope(app, console):
    client, _ = console("policy:read")
    r = client.get("/console/retention", headers={"Accept": "application/json"})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    r = app.test_client().post("/console/retention/runs", data={})  # no Accept at all
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/console/retention").mimetype == "text/html"  # a browser's Accept


def test_console_pages_carry_the_strict_security_headers(console):
    client, _ = console("admin")
    for page in PAGES:
        r = client.get(page)
        assert "default-src 'none'" in r.headers["Content-Security-Policy"], page
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert r.headers["Cache-Control"] == "no-store"


# -- audit -----------------------------------------------------------------------------------


def _seqs(html: str) -> list[str]:
    return re.findall(r"<tr>\s*<td>(\d+)</td>", html)


def test_the_audit_page_filters_by_subject_action_and_time(app, console, admin):
    for subject in ("alice", "bob", "alice"):
        write_consent(app.test_client(), admin, subject)
    app.test_client().post("/v1/retention/holds", headers=admin,
                           json={"subject_id": "alice", "reason": "case 7"})
    client, _ = console("audit:read")
    every = client.get("/console/audit").text
    assert "Head</dt><dd>entry <strong>" in every and "consent.recorded" in every
    alice = client.get("/console/audit?subject_id=alice").text
    assert len(_seqs(alice)) == 3 and "retention.hold.created" in alice
    consent = client.get("/console/audit", query_string={"subject_id": "alice",
                                                         "action": "consent."}).text
    assert len(_seqs(consent)) == 2 and "retention.hold.created</code>" not in consent
    exact = client.get("/console/audit?action=retention.hold.created").text
    assert len(_seqs(exact)) == 1
    later = client.get("/console/audit?since=2999-01-01T00:00").text
    assert _seqs(later) == [] and "No entries match" in later
    bad = client.get("/console/audit?subject_id=not ok!")
    assert bad.status_code == 422 and "Must be 1-128 characters" in bad.text


def test_the_audit_page_offers_every_action_and_its_prefixes(console):
    from audit.actions import ACTIONS

    client, _ = console("audit:read")
    html = client.get("/console/audit").text
    for action in ACTIONS:
        assert f'<option value="{action}"' in html
    assert '<option value="consent."' in html and '<option value="retention.hold."' in html


def test_the_audit_page_pages_through_entries_keeping_the_filters(app, console, admin):
    for i in range(55):
        write_consent(app.test_client(), admin, "carol", "granted" if i % 2 else "denied")
    client, _ = console("audit:read")
    first = client.get("/console/audit?subject_id=carol").text
    assert len(_seqs(first)) == 50
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "subject_id=carol" in next_url
    assert len(_seqs(client.get(next_url).text)) == 5


# -- exports ---------------------------------------------------------------------------------


def test_an_export_is_requested_seen_building_then_verified_and_downloaded(app, console, admin):
    write_consent(app.test_client(), admin, "alice")
    client, name = console("audit:export")
    r = post_form(client, "/console/exports", "/console/exports",
                  {"subject_id": "alice", "reason": "DSAR 41", "since": "", "until": ""})
    assert r.status_code == 303
    page = r.headers["Location"]
    building = client.get(page)
    # No meta refresh (axe: critical): a status region says it is building, with a button
    # to look again; the service's own script looks again while JavaScript is on.
    assert "http-equiv" not in building.text
    assert 'role="status" data-waiting="queued"' in building.text
    assert "Waiting for the exporter" in building.text
    assert f'href="{page}">Refresh the status</a>' in building.text
    assert "console-status.js" in building.text
    assert "script-src 'self'" in client.get(page).headers["Content-Security-Policy"]
    export_id = page.rsplit("/", 1)[1]
    assert client.get(f"/console/exports/{export_id}/bundle").status_code == 409
    assert "http-equiv" not in client.get("/console/exports").text
    assert run_exports(app) == 1
    ready = client.get(page).text
    assert "http-equiv" not in ready
    assert "Verified: intact." in ready and "python -m audit.verify" in ready
    assert 'href="/.well-known/consentry-keys" download="keys.json"' in ready
    bundle = client.get(f"/console/exports/{export_id}/bundle")
    assert bundle.status_code == 200 and bundle.mimetype == "application/zip"
    bundle.close()
    listing = client.get("/console/exports").text
    assert export_id in listing and name in listing and "DSAR 41" in listing


def test_an_export_is_verified_once_when_built_not_on_every_view(app, console, admin,
                                                                  monkeypatch):
    write_consent(app.test_client(), admin, "alice")
    client, _ = console("audit:export")
    r = post_form(client, "/console/exports", "/console/exports",
                  {"subject_id": "", "reason": "audit 7", "since": "", "until": ""})
    page = r.headers["Location"]
    assert run_exports(app) == 1
    views = []

    def verify_on_view(*args, **kwargs):
        views.append(args)
        raise AssertionError("the page verified the bundle again")

    monkeypatch.setattr("console.views.verify_bundle", verify_on_view)
    for _ in range(3):
        ready = client.get(page)
        assert ready.status_code == 200 and "Verified: intact." in ready.text
    assert views == []
    with app.app_context(), get_db(app).transaction(write=False) as session:
        record = session.get(AuditExport, page.rsplit("/", 1)[1])
        kept, count = record.verification, record.count
    assert kept["ok"] is True and kept["count"] == count
    assert kept["verified_at"] in ready.text and "when the bundle was built" in ready.text


def test_a_subject_access_export_is_requested_built_verified_and_downloaded(app, console,
                                                                            admin):
    import io
    import zipfile

    write_consent(app.test_client(), admin, "alice")
    write_consent(app.test_client(), admin, "bob")
    client, name = console("audit:export")
    assert "Subject access export" in client.get("/console/exports").text
    r = post_form(client, "/console/exports", "/console/exports/access",
                  {"subject_id": "alice", "reason": "DSAR-77"})
    assert r.status_code == 303
    page = r.headers["Location"]
    assert "Waiting for the exporter" in client.get(page).text
    assert run_exports(app) == 1
    ready = client.get(page).text
    assert "Subject access export" in ready and "Verified: intact." in ready
    assert "1 receipt(s)" in ready
    export_id = page.rsplit("/", 1)[1]
    assert f"python -m audit.verify consentry-access-{export_id}.zip" in ready
    bundle = client.get(f"/console/exports/{export_id}/bundle")
    assert f"consentry-access-{export_id}.zip" in bundle.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as z:
        assert "subject/consent_events.json" in z.namelist()
        assert b"bob" not in z.read("subject/consent_events.json")
    bundle.close()
    listing = client.get("/console/exports").text
    assert export_id in listing and "subject access" in listing and "DSAR-77" in listing


def test_a_subject_access_export_without_csrf_or_a_valid_id_changes_nothing(app, console):
    client, _ = console("audit:export")
    r = client.post("/console/exports/access", data={"subject_id": "alice", "reason": "x"})
    assert r.status_code == 403 and "csrf_failed" in r.text
    r = post_form(client, "/console/exports", "/console/exports/access",
                  {"subject_id": "", "reason": "DSAR-1"})
    assert r.status_code == 422 and "subject_id-error" in r.text
    assert 'value="DSAR-1"' in r.text  # what was typed stays
    assert "No exports yet." in client.get("/console/exports").text


def test_the_audit_page_filtered_to_a_subject_offers_their_access_export(app, console):
    client, _ = console("audit:read", "audit:export")
    html = client.get("/console/audit?subject_id=alice").text
    assert 'action="/console/exports/access"' in html
    assert 'name="subject_id" value="alice"' in html
    r = post_form(client, "/console/audit?subject_id=alice", "/console/exports/access",
                  {"subject_id": "alice", "reason": "DSAR-5"})
    assert r.status_code == 303
    assert 'action="/console/exports/access"' not in client.get("/console/audit").text
    reader, _ = console("audit:read")  # without audit:export the form is not offered
    assert "/console/exports/access" not in reader.get("/console/audit?subject_id=alice").text


def test_an_export_request_without_a_reason_is_shown_again_with_the_error(console):
    client, _ = console("audit:export")
    r = post_form(client, "/console/exports", "/console/exports",
                  {"since": "2026-02-01T00:00", "until": "2026-01-01T00:00"})
    assert r.status_code == 422 and "reason-error" in r.text
    assert 'value="2026-02-01T00:00"' in r.text  # what was typed stays


def test_a_tampered_bundle_is_shown_as_tampered(app, console, admin):
    import zipfile

    from audit.models import AuditExport

    write_consent(app.test_client(), admin, "alice")
    client, _ = console("audit:export")
    page = post_form(client, "/console/exports", "/console/exports",
                     {"reason": "check"}).headers["Location"]
    run_exports(app)
    with app.app_context(), get_db(app).transaction(write=False) as s:
        path = s.get(AuditExport, page.rsplit("/", 1)[1]).path
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    files["entries.jsonl"] = files["entries.jsonl"].replace(b'"granted"', b'"denied"', 1)
    with zipfile.ZipFile(path, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)
    html = client.get(page).text
    assert "Tampered:" in html and "modified" in html
    assert "the file changed since it was built" in html  # not the kept verification


def test_an_erased_export_answers_410_saying_why_in_the_console_and_the_api(app, console,
                                                                            admin):
    write_consent(app.test_client(), admin, "alice")
    client, _ = console("audit:export")
    page = post_form(client, "/console/exports", "/console/exports",
                     {"reason": "check"}).headers["Location"]
    run_exports(app)
    export_id = page.rsplit("/", 1)[1]
    api = app.test_client()
    assert api.post("/v1/subjects/alice/erasure", headers=admin).status_code == 202
    run_retention(app)
    r = api.get(f"/v1/audit/exports/{export_id}", headers=admin)
    assert r.status_code == 410 and r.get_json()["error"]["code"] == "gone"
    assert "erasure" in r.get_json()["error"]["message"]
    html = client.get(f"/console/exports/{export_id}/bundle")
    assert html.status_code == 410 and "erasure" in html.text
    assert "deleted by an erasure" in client.get(page).text
    assert ">erased<" in client.get("/console/exports").text


# -- retention -------------------------------------------------------------------------------


def test_a_dry_run_from_the_console_reports_what_it_would_delete_apart_from_holds(
        app, console, admin):
    client, _ = console("retention:admin")
    r = post_form(client, "/console/retention", "/console/retention/runs",
                  {"targets": "decisions"})
    assert r.status_code == 303
    page = r.headers["Location"]
    waiting = client.get(page).text
    assert "http-equiv" not in waiting and 'data-waiting="queued"' in waiting
    assert "http-equiv" not in client.get("/console/retention").text
    run_retention(app)
    html = client.get(page).text
    assert "http-equiv" not in html and "Nothing was deleted" in html
    assert "Would delete" in html and "<code>decisions</code>" in html
    run = client.get(f"/v1/retention/runs/{page.rsplit('/', 1)[1]}", headers=admin).get_json()
    assert run["dry_run"] is True and run["trigger"] == "console"
    assert run["targets_requested"] == ["decisions"] and "would_delete" in run["totals"]


def test_holds_are_added_and_lifted_from_the_console(app, console, admin):
    client, name = console("retention:admin")
    r = post_form(client, "/console/retention", "/console/retention/holds",
                  {"subject_id": "dora", "reason": "litigation 12", "until": "2099-01-01T00:00"})
    assert r.status_code == 303
    page = client.get(r.headers["Location"]).text
    assert "The hold is in place" in page and "litigation 12" in page
    [hold] = client.get("/v1/retention/holds", headers=admin).get_json()["holds"]
    assert hold["subject_id"] == "dora" and hold["created_by"] == f"key:{name}"
    assert hold["until"] == "2099-01-01T00:00:00Z"
    lift = f"/console/retention/holds/{hold['id']}/lift"
    assert f'href="{lift}"' in page  # a link to the confirmation, not a one-click lift
    r = post_form(client, "/console/retention", lift)  # without confirm=1: the confirmation
    assert r.status_code == 200 and "No erasure waits on this hold." in r.text
    assert len(client.get("/v1/retention/holds", headers=admin).get_json()["holds"]) == 1
    r = post_form(client, lift, lift, {"confirm": "1"})
    assert r.status_code == 303
    assert client.get("/v1/retention/holds", headers=admin).get_json()["holds"] == []


def test_a_hold_form_with_mistakes_is_shown_again_and_stores_nothing(app, console, admin):
    client, _ = console("retention:admin")
    r = post_form(client, "/console/retention", "/console/retention/holds",
                  {"subject_id": "dora", "category": "health", "reason": "both"})
    assert r.status_code == 422 and "exactly one of subject_id or category" in r.text
    r = post_form(client, "/console/retention", "/console/retention/holds",
                  {"subject_id": "dora"})
    assert r.status_code == 422 and "reason-error" in r.text
    assert client.get("/v1/retention/holds", headers=admin).get_json()["holds"] == []


def test_erasures_with_reasons_and_certificates_are_listed_for_audit_readers(app, console,
                                                                              admin):
    api = app.test_client()
    write_consent(api, admin, "erin")
    r = api.post("/v1/subjects/erin/erasure", headers=admin, json={"reason": "DSR-1234"})
    erasure_id = r.get_json()["erasure_id"]
    run_retention(app)
    staff, _ = console("retention:admin", "audit:read")
    page = staff.get("/console/retention").text
    assert "DSR-1234" in page and f"/console/retention/erasures/{erasure_id}" in page
    legal, _ = console("audit:read")  # no retention:admin: the erasure itself still opens
    detail = legal.get(f"/console/retention/erasures/{erasure_id}").text
    assert "DSR-1234" in detail and "consentry.erasure-certificate/" in detail
    certificate = legal.get(f"/console/retention/erasures/{erasure_id}/certificate.json")
    assert certificate.status_code == 200
    assert certificate.get_json()["document"]["erasure_id"] == erasure_id
    ops, _ = console("retention:admin")  # may see retention, not read erasures
    assert "which this key lacks" in ops.get("/console/retention").text
    assert ops.get(f"/console/retention/erasures/{erasure_id}").status_code == 403


# -- decisions and reports -------------------------------------------------------------------


def test_the_decisions_page_charts_violations_by_category_and_surface(app, console, admin):
    api = app.test_client()
    record_violation(api, admin, "u-1", surface="homepage_hero", category="health")
    record_violation(api, admin, "u-2", surface="email_digest", category="health")
    record_violation(api, admin, "u-3", surface="email_digest", category="financial")
    client, _ = console("explanations:read")
    html = client.get("/console/decisions").text
    svg = html.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert 'role="img"' in svg and svg.count("<rect") == 2  # one day, two categories
    assert "× health" in svg and "3 in all" in html
    by_surface = html.split('id="by-surface-title"', 1)[1].split("</svg>", 1)[0]
    assert by_surface.count("<rect") == 2 and "2 × email_digest" in by_surface
    table = html.split("Violations by surface and category", 1)[1].split("</table>", 1)[0]
    assert "<code>email_digest</code>" in table and "<code>homepage_hero</code>" in table
    transparency = html.split("Recommender transparency", 1)[1]
    assert "<code>email_digest</code>" in transparency and "financial" in transparency
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_the_reports_page_shows_both_reports_with_csv_downloads(app, console, admin):
    api = app.test_client()
    assert api.put("/v1/recipes/hero", headers=admin, json={
        "name": "Running fans see running gear", "purpose": "personalization",
        "channels": ["web"], "surface": "homepage_hero", "trigger": "3+ views",
        "audience": "returning visitors", "action": "show the category's top items",
        "categories": ["behavioral", "location_precise"],
        "explicit_grants": ["location_precise"], "success_metric": "click-through",
        "owner": "growth", "status": "live"}).status_code == 200
    record_violation(api, admin, "u-1", surface="homepage_hero", category="health")
    client, _ = console("reports:read")
    html = unescape(client.get("/console/reports").text)
    minimization = html.split('id="minimization"', 1)[1].split('id="processing"', 1)[0]
    row = minimization.split("(health)", 1)[1].split("</tr>", 1)[0]
    assert "<strong>used_undeclared</strong>" in row  # used by a decision, declared by none
    assert "<strong>declared_unused</strong>" in minimization.split("(location_precise)", 1)[1]
    processing = html.split('id="processing"', 1)[1]
    personalization = processing.split("(personalization)", 1)[1].split("</section>", 1)[0]
    assert "Running fans see running gear (v1)" in personalization
    assert "a DPIA is recommended" in personalization
    assert "sensitive_or_special" in personalization and "profiling" in personalization
    csv_text = client.get("/console/reports/data-minimization.csv").text
    assert csv_text.splitlines()[0].startswith("category,sensitivity,finding")
    assert any(line.startswith("health,special,used_undeclared")
               for line in csv_text.splitlines())
    processing_csv = client.get("/console/reports/processing-records.csv")
    assert processing_csv.mimetype == "text/csv" and "personalization" in processing_csv.text
    assert client.get("/console/reports/nothing.csv").status_code == 404


def test_an_erasure_waiting_for_a_hold_shows_the_hold(app, console, admin):
    api = app.test_client()
    write_consent(api, admin, "fay")
    hold = api.post("/v1/retention/holds", headers=admin,
                    json={"subject_id": "fay", "reason": "litigation"}).get_json()
    erasure_id = api.post("/v1/subjects/fay/erasure", headers=admin,
                          json={"reason": "DSR-9"}).get_json()["erasure_id"]
    run_retention(app)
    client, _ = console("audit:read")
    page = client.get(f"/console/retention/erasures/{erasure_id}").text
    assert ">held<" in page and "Waiting for legal holds" in page and hold["id"] in page
    assert "http-equiv" not in page  # a hold may last months: no refreshing


def test_the_console_may_be_framed_by_no_one(app):
    r = app.test_client().get("/console/login")
    assert r.headers["Content-Security-Policy"].endswith("frame-ancestors 'none'")
    assert r.headers["Referrer-Policy"] == "no-referrer"
