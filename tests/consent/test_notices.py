"""Privacy notices: each version recorded once, consent pinned to the version the person
saw, and `reconsent_needed` when a newer material version exists."""

from __future__ import annotations

import hashlib

import pytest

GRANT = [{"purpose": "marketing", "status": "granted"}]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def body(version: str, material: bool, text: str | None = None) -> dict:
    return {"version": version, "url": f"https://example.com/privacy/v{version}",
            "sha256": sha(text or f"notice text {version}"), "material": material}


@pytest.fixture
def record(client, admin):
    """PUT a notice version; return the response."""

    def put(name: str, is_material: bool, notice_id: str = "privacy", **changes):
        return client.put(f"/v1/notices/{notice_id}", json={**body(name, is_material),
                                                            **changes}, headers=admin)

    return put


@pytest.fixture
def reader(make_key):
    return make_key("preferences:read")


def state(client, reader, subject="u-1", **query):
    r = client.get(f"/v1/subjects/{subject}/consents", query_string=query, headers=reader)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_a_version_is_recorded_once_then_final(client, admin, record):
    first = record("1", True)
    assert first.status_code == 201
    shown = first.get_json()
    assert shown == {**body("1", True), "notice_id": "privacy", "recorded_at":
                     shown["recorded_at"], "recorded_by": "test-admin"}
    again = record("1", True)
    assert again.status_code == 200 and again.get_json() == shown
    for change in ({"material": False}, {"url": "https://example.com/other"},
                   {"sha256": sha("other text")}):
        r = record("1", True, **change)
        assert r.status_code == 409, change
        assert "never changes" in r.get_json()["error"]["message"]
    assert record("2", False).status_code == 201
    entries = client.get("/v1/audit/entries", query_string={"action": "notice.recorded"},
                         headers=admin).get_json()["entries"]
    assert [(e["actor"], e["details"]) for e in entries] == [
        ("test-admin", {"notice_id": "privacy", **body("1", True)}),
        ("test-admin", {"notice_id": "privacy", **body("2", False)})]


def test_notices_are_listed_oldest_version_first(client, record, make_key):
    record("2026-01", True)
    record("2026-03", False)
    record("1", False, notice_id="cookies")
    reader = make_key("policy:read")
    one = client.get("/v1/notices/privacy", headers=reader).get_json()
    assert [v["version"] for v in one["versions"]] == ["2026-01", "2026-03"]
    assert one["latest_version"] == "2026-03" and one["latest_material_version"] == "2026-01"
    listed = client.get("/v1/notices", headers=reader).get_json()["notices"]
    assert [n["notice_id"] for n in listed] == ["cookies", "privacy"]
    assert listed[0]["latest_material_version"] is None
    assert client.get("/v1/notices/nothing", headers=reader).status_code == 404
    refused = client.put("/v1/notices/privacy", json=body("9", True), headers=reader)
    assert refused.status_code == 403


@pytest.mark.parametrize("field,value", [
    ("sha256", "AB" * 32),          # upper case
    ("sha256", "ab" * 31),          # too short
    ("sha256", "g" * 64),
    ("url", "ftp://example.com/privacy"),
    ("url", "not a url"),
    ("version", "1@2"),             # "@" separates the notice from the version
    ("version", ""),
    ("version", "x" * 32),
])
def test_bad_notice_bodies_are_422_on_their_field(record, field, value):
    r = record("1", True, **{field: value})
    assert r.status_code == 422
    assert field in r.get_json()["error"]["fields"]


def test_a_bad_notice_id_is_422(client, admin):
    for bad in ("a@b", "-x", "x" * 33):
        r = client.put(f"/v1/notices/{bad}", json=body("1", True), headers=admin)
        assert r.status_code == 422 and "notice_id" in r.get_json()["error"]["fields"], bad


def test_without_any_notice_a_write_keeps_its_notice_version_as_before(put_consents,
                                                                       client, reader):
    r = put_consents("u-1", GRANT, notice_version="whatever-v7")
    assert r.status_code == 200
    assert r.get_json()["receipt"]["notice_version"] == "whatever-v7"
    answer = state(client, reader)
    assert answer["reconsent_needed"] is False and answer["notice"] is None


def test_once_notices_exist_a_write_must_name_a_recorded_version(put_consents, record):
    record("1", True)
    unknown = put_consents("u-1", GRANT, notice_version="7")
    assert unknown.status_code == 422
    assert "not recorded" in unknown.get_json()["error"]["message"]
    assert "notice_version" in unknown.get_json()["error"]["fields"]
    assert put_consents("u-1", GRANT, notice_version="cookies@1").status_code == 422
    bare = put_consents("u-1", GRANT, notice_version="1")
    assert bare.get_json()["receipt"]["notice_version"] == "privacy@1"
    named = put_consents("u-1", GRANT, notice_version="privacy@1")
    assert named.get_json()["receipt"]["notice_version"] == "privacy@1"
    # a write without a notice version is still taken (an engine, an import)
    assert put_consents("u-1", GRANT).status_code == 200


def test_the_first_notice_recorded_by_another_worker_counts_at_the_next_write(
        put_consents, make_app, admin):
    # Each worker asks afresh in every write whether a notice is recorded: a "none" is
    # never kept past its own transaction.
    first = put_consents("u-1", GRANT, notice_version="7")
    assert first.status_code == 200 and first.get_json()["notice"] is None
    other_worker = make_app().test_client()
    assert other_worker.put("/v1/notices/privacy", json=body("1", True),
                            headers=admin).status_code == 201
    assert put_consents("u-1", GRANT, notice_version="7").status_code == 422
    answer = put_consents("u-1", GRANT, notice_version="1").get_json()
    assert answer["receipt"]["notice_version"] == "privacy@1"
    assert answer["notice"]["version"] == "1" and answer["reconsent_needed"] is False
    assert put_consents("u-1", GRANT).get_json()["notice"]["version"] == "1"


def test_a_material_change_asks_for_consent_again_until_the_person_chooses_under_it(
        put_consents, record, client, reader):
    record("1", True)
    put_consents("u-1", GRANT, notice_version="1")
    answer = state(client, reader)
    assert answer["reconsent_needed"] is False
    assert answer["notice"]["version"] == "1"

    record("1.1", False)  # a typo fixed: nobody is asked again
    assert state(client, reader)["reconsent_needed"] is False

    record("2", True)
    answer = state(client, reader)
    assert answer["reconsent_needed"] is True
    assert answer["notice"]["version"] == "2"
    assert answer["notice"]["url"] == "https://example.com/privacy/v2"

    # a write that names no notice does not count as having seen the new one
    put_consents("u-1", [{"purpose": "analytics", "status": "denied"}])
    assert state(client, reader)["reconsent_needed"] is True
    written = put_consents("u-1", GRANT, notice_version="privacy@2")
    assert written.get_json()["reconsent_needed"] is False
    assert state(client, reader)["reconsent_needed"] is False

    record("3", False)
    assert state(client, reader)["reconsent_needed"] is False


def test_reconsent_as_of_a_past_moment(put_consents, record, client, reader):
    record("1", True)
    first = put_consents("u-1", GRANT, notice_version="1").get_json()
    moment = first["receipt"]["issued_at"]
    record("2", True)
    assert state(client, reader)["reconsent_needed"] is True
    then = state(client, reader, at=moment)
    assert then["reconsent_needed"] is False and then["notice"]["version"] == "1"


def test_who_is_never_asked_again(put_consents, record, client, reader, writer):
    record("1", True)
    record("2", True)
    # a subject the service never saw, and one with switches only, have no choice to review
    assert state(client, reader, subject="u-new")["reconsent_needed"] is False
    client.post("/v1/subjects/u-switch/opt-out", json={"scope": "personalization"},
                headers=writer)
    assert state(client, reader, subject="u-switch")["reconsent_needed"] is False
    # a choice that named no notice was made under no recorded version: asked again
    put_consents("u-old", GRANT)
    assert state(client, reader, subject="u-old")["reconsent_needed"] is True


def test_a_choice_under_another_notice_is_judged_by_that_notice(put_consents, record,
                                                                client, reader):
    record("1", True)
    record("1", True, notice_id="cookies")
    put_consents("u-1", GRANT, notice_version="cookies@1")
    record("2", True)  # the default notice changed; the person chose under cookies@1
    answer = state(client, reader)
    assert answer["reconsent_needed"] is False and answer["notice"]["notice_id"] == "cookies"
    record("2", True, notice_id="cookies")
    assert state(client, reader)["reconsent_needed"] is True
