"""The page per person, and the confirmations of erasure, lifting a hold and a real purge."""

from __future__ import annotations

import json
import re
from html import unescape

from consentry_client import verify_receipt

from tests.console.conftest import (
    csrf_of,
    post_form,
    record_violation,
    run_retention,
    write_consent,
)


def _words(html: str) -> str:
    """The page's text as a person reads it: no tags, spaces folded."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split()).replace(" ;", ";")


def _erasures(client, admin) -> list[dict]:
    return client.get("/v1/erasures", headers=admin).get_json()["erasures"]


def test_the_search_box_opens_a_persons_page_and_refuses_what_is_no_subject_id(console):
    client, _ = console("preferences:read")
    home = client.get("/console/").text
    assert 'role="search"' in home and 'name="q"' in home  # on every console page
    r = client.get("/console/subjects?q=alice")
    assert r.status_code == 303 and r.headers["Location"].endswith("/console/subjects/alice")
    bad = client.get("/console/subjects?q=not%20an%20id")
    assert bad.status_code == 422 and "Enter a subject id" in bad.text


def test_a_persons_page_says_in_words_what_they_allow_and_lists_their_records(app, console,
                                                                             admin):
    api = app.test_client()
    write_consent(api, admin, "alice")
    record_violation(api, admin, "alice", category="health")
    client, _ = console("preferences:read", "explanations:read", "audit:read")
    html = unescape(client.get("/console/subjects/alice").text)
    table = html.split('id="state-h"', 1)[1].split("</table>", 1)[0]
    row = next(r for r in table.split("<tr") if "Activity in our product" in r)
    assert "Personalization" in row and ">allowed<" in row
    assert "you allowed this on" in row and "explicit_grant" in row  # in words, and its code
    history = html.split('id="history-h"', 1)[1].split("</table>", 1)[0]
    assert "<code>personalization</code> · <code>behavioral</code>" in history
    decisions = html.split('id="decisions-h"', 1)[1].split("</table>", 1)[0]
    assert "violation" in decisions and "health" in decisions
    audit = html.split('id="audit-h"', 1)[1]
    assert "Choices recorded in the consent ledger" in audit  # the action in words
    assert "<dl class=\"details\">" in audit and "{&quot;" not in audit and '{"' not in audit
    # Each receipt downloads as the signed JSON, which verifies against the published keys.
    [link] = re.findall(r'href="(/console/subjects/alice/receipts/[^"]+\.json)"', html)
    receipt = client.get(link)
    assert receipt.mimetype == "application/json"
    jwks = api.get("/.well-known/consentry-keys").get_json()
    assert verify_receipt(json.loads(receipt.data), jwks)["subject_id"] == "alice"
    assert client.get("/console/subjects/bob/receipts/" + link.rsplit("/", 1)[1]
                      ).status_code == 404  # another person's receipt is not theirs


def test_what_a_page_shows_and_offers_follows_the_sessions_scopes(app, console, admin):
    write_consent(app.test_client(), admin, "alice")
    viewer, _ = console("preferences:read", "audit:read")
    html = viewer.get("/console/subjects/alice").text
    assert "Erase this person" not in html and "Place a hold" not in html
    assert 'id="decisions-h"' not in html and 'id="holds-h"' not in html
    r = post_form(viewer, "/console/subjects/alice", "/console/subjects/alice/erasure",
                  {"confirm": "1", "confirm_subject_id": "alice"})
    assert r.status_code == 403 and _erasures(app.test_client(), admin) == []
    operator, _ = console("retention:admin", "audit:read")
    assert operator.get("/console/subjects/alice").status_code == 403


def test_erasing_from_a_persons_page_confirms_by_the_typed_id_and_names_the_wait(
        app, console, admin):
    api = app.test_client()
    write_consent(api, admin, "fay")
    hold = api.post("/v1/retention/holds", headers=admin,
                    json={"subject_id": "fay", "reason": "litigation 7"}).get_json()
    client, _ = console("preferences:read", "erasure:write", "retention:admin")
    page = "/console/subjects/fay"
    action = "/console/subjects/fay/erasure"
    confirm = post_form(client, page, action)  # the page's button: the confirmation only
    assert confirm.status_code == 200 and _erasures(api, admin) == []
    text = _words(confirm.text)
    assert "delete their 1 receipt and 0 decisions" in text
    assert "It will wait:" in text and hold["id"] in text and "litigation 7" in text
    wrong = client.post(action, data={"csrf_token": csrf_of(confirm.text), "confirm": "1",
                                      "confirm_subject_id": "fay2"})
    assert wrong.status_code == 422 and "does not match" in wrong.text
    assert _erasures(api, admin) == []
    done = client.post(action, data={"csrf_token": csrf_of(confirm.text), "confirm": "1",
                                     "confirm_subject_id": "fay", "reason": "DSR-5"})
    assert done.status_code == 303 and "/console/retention/erasures/" in done.headers["Location"]
    [erasure] = _erasures(api, admin)
    run_retention(app)
    assert api.get(f"/v1/erasures/{erasure['erasure_id']}", headers=admin
                   ).get_json()["status"] == "held"

    # Lifting the hold names the erasure that will then go ahead, and only confirm lifts it.
    lift = f"/console/retention/holds/{hold['id']}/lift"
    shown = client.get(lift).text
    assert erasure["erasure_id"][:8] in shown and "will then be carried out" in shown
    assert "Lift the hold and release the erasure" in _words(shown)
    r = client.post(lift, data={"csrf_token": csrf_of(shown)})
    assert r.status_code == 200 and api.get(
        "/v1/retention/holds", headers=admin).get_json()["holds"] != []
    r = client.post(lift, data={"csrf_token": csrf_of(shown), "confirm": "1"})
    assert r.status_code == 303
    run_retention(app)
    assert api.get(f"/v1/erasures/{erasure['erasure_id']}", headers=admin
                   ).get_json()["status"] == "succeeded"


def test_lifting_one_of_two_holds_says_the_erasure_still_waits(app, console, admin):
    api = app.test_client()
    first, second = (api.post("/v1/retention/holds", headers=admin, json={
        "subject_id": "gus", "reason": reason}).get_json() for reason in ("a", "b"))
    erasure = api.post("/v1/subjects/gus/erasure", headers=admin, json={}).get_json()
    run_retention(app)
    client, _ = console("retention:admin")
    shown = _words(client.get(f"/console/retention/holds/{first['id']}/lift").text)
    assert erasure["erasure_id"][:8] in shown
    assert f"still waits for {second['id']}" in shown


def test_a_real_purge_is_offered_from_a_dry_run_and_shows_its_counts_first(app, console,
                                                                           admin):
    client, name = console("retention:admin")
    r = post_form(client, "/console/retention", "/console/retention/runs",
                  {"targets": "decisions"})
    dry_page = r.headers["Location"]
    run_id = dry_page.rsplit("/", 1)[1]
    run_retention(app)
    purge = f"/console/retention/runs/{run_id}/purge"
    assert f'href="{purge}"' in client.get(dry_page).text
    shown = client.get(purge).text
    assert "counted 0 expired rows to delete" in _words(shown)
    assert "<code>decisions</code>" in shown
    api = app.test_client()
    r = client.post(purge, data={"csrf_token": csrf_of(shown)})  # no confirm: nothing queued
    assert r.status_code == 200
    assert len(api.get("/v1/retention/runs", headers=admin).get_json()["runs"]) == 1
    r = client.post(purge, data={"csrf_token": csrf_of(shown), "confirm": "1"})
    assert r.status_code == 303
    runs = api.get("/v1/retention/runs", headers=admin).get_json()["runs"]
    real = next(run for run in runs if run["run_id"] != run_id)
    assert real["dry_run"] is False and real["targets_requested"] == ["decisions"]
    assert real["requested_by"] == f"key:{name}"
    # A run that is no finished dry run cannot be turned into a purge.
    assert client.get(f"/console/retention/runs/{real['run_id']}/purge").status_code == 409
