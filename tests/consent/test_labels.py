"""What a preference center needs to draw itself: purpose rows and labels in a language."""

from datetime import UTC, datetime, timedelta

from consent.gate import evaluate_purpose
from consent.state import Choice, ConsentState
from consentry.policy import load_policy, parse_policy


def rows(body, purpose):
    return [e for e in body["entries"] if e["purpose"] == purpose and e["channel"] is None]


def test_each_purpose_has_a_row_of_its_own_first(client, put_consents, admin):
    put_consents("u-1", [{"purpose": "marketing", "status": "granted"},
                         {"purpose": "analytics", "status": "denied"}], jurisdiction="EU")
    body = client.get("/v1/subjects/u-1/consents", headers=admin).get_json()
    for purpose in ("personalization", "marketing", "advertising", "analytics"):
        assert rows(body, purpose)[0]["category"] is None
        assert len(rows(body, purpose)) == 1 + 9  # its own row, then every category
    own = {p: rows(body, p)[0] for p in ("personalization", "marketing", "analytics")}
    assert (own["personalization"]["allowed"], own["personalization"]["reason"]) == (
        True, "default_opt_out_basis")
    assert (own["marketing"]["allowed"], own["marketing"]["reason"]) == (True, "explicit_grant")
    assert own["marketing"]["since"].endswith("Z")
    assert (own["analytics"]["allowed"], own["analytics"]["reason"]) == (False, "purpose_denied")
    fresh = client.get("/v1/subjects/nobody/consents?jurisdiction=EU", headers=admin).get_json()
    assert rows(fresh, "marketing")[0]["reason"] == "requires_explicit_consent"


def test_a_switch_turns_the_purpose_row_off_too(client, admin):
    client.post("/v1/subjects/u-2/opt-out", headers=admin, json={"scope": "personalization"})
    body = client.get("/v1/subjects/u-2/consents", headers=admin).get_json()
    assert rows(body, "personalization")[0]["reason"] == "personalization_off"
    assert rows(body, "personalization")[0]["allowed"] is False


def test_an_expired_purpose_grant_reads_as_expired_where_consent_is_needed():
    policy = parse_policy({**_raw(), "consent_max_age_days": 30})
    now = datetime(2026, 11, 24, tzinfo=UTC)
    old = ConsentState("EU", {("marketing", None, None): Choice("granted", now - timedelta(40))})
    assert evaluate_purpose(old, policy, "marketing", None, now).reason == "consent_expired"
    assert evaluate_purpose(old, policy, "personalization", None, now).reason == \
        "default_opt_out_basis"


def _raw():
    import tomllib
    return tomllib.loads(load_policy().to_toml())


def test_consents_carry_labels_in_the_asked_language(client, admin):
    english = client.get("/v1/subjects/u-3/consents", headers=admin)
    german = client.get("/v1/subjects/u-3/consents",
                        headers={**admin, "Accept-Language": "de-CH, de;q=0.9, en;q=0.5"})
    assert english.headers["Content-Language"] == "en"
    assert german.headers["Content-Language"] == "de"
    assert german.get_json()["language"] == "de"
    row = next(e for e in german.get_json()["entries"]
               if e["purpose"] == "personalization" and e["category"] == "transactional")
    assert (row["purpose_label"], row["category_label"]) == ("Personalisierung", "Ihre Käufe")
    own = rows(english.get_json(), "advertising")[0]
    assert (own["purpose_label"], own["category_label"]) == ("Advertising", None)


def test_the_policy_answers_every_language_and_the_asked_one(client, admin):
    body = client.get("/v1/policy", headers={**admin, "Accept-Language": "de"})
    assert body.headers["Content-Language"] == "de"
    policy = body.get_json()
    assert policy["language"] == "de"
    personalization = next(p for p in policy["purposes"] if p["id"] == "personalization")
    assert personalization["label"] == "Personalisierung"
    assert personalization["labels"] == {"en": "Personalization", "de": "Personalisierung"}
    assert personalization["description"] == "Anpassen, was Sie sehen, an Sie."
    assert set(personalization["descriptions"]) == {"en", "de"}
    health = next(c for c in policy["categories"] if c["id"] == "health")
    assert health["labels"] == {"en": "Health information", "de": "Gesundheitsdaten"}
    english = client.get("/v1/policy", headers=admin).get_json()
    assert next(p for p in english["purposes"] if p["id"] == "advertising")["label"] == \
        "Advertising"


def test_the_shipped_policy_speaks_german_everywhere():
    policy = load_policy()
    for thing in [*policy.purposes.values(), *policy.categories.values()]:
        assert thing.labels.get("de"), thing.id
        assert thing.descriptions.get("de"), thing.id
    for category in policy.categories.values():
        assert set(category.control_labels) >= {"en", "de"}, category.id


def test_return_urls_only_on_the_policys_page_origins():
    policy = parse_policy({**_raw(), "page_origins": ["https://shop.example.com",
                                                      "http://localhost:3000"]})
    assert policy.allows_page_url("https://shop.example.com/account?tab=privacy")
    assert policy.allows_page_url("https://SHOP.example.com:443/")
    assert policy.allows_page_url("http://localhost:3000/back")
    for url in ("http://shop.example.com/", "https://shop.example.com.evil.test/",
                "https://evil.test/?https://shop.example.com", "javascript:alert(1)",
                "https://user@shop.example.com/", "//shop.example.com/", "/relative",
                "https://shop.example.com:8443/", "http://localhost:3001/", "https://[::1/"):
        assert not policy.allows_page_url(url), url
