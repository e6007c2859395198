"""Receipts: an ISO/IEC TS 27560 record in W3C DPV terms, signed whole, and its Kantara view."""

import tomllib
from datetime import datetime, timedelta

import pytest

from consentry.policy import LAWFUL_BASES, get_policy, load_policy
from consentry.signing import SignatureError, keys_by_kid, verify_document

EU_CHOICES = [
    {"purpose": "personalization", "status": "granted"},
    {"purpose": "personalization", "category": "location_precise", "status": "granted"},
    {"purpose": "analytics", "status": "denied"},
    {"purpose": "marketing", "channel": "email", "status": "granted"},
]


def receipt_of(response):
    assert response.status_code == 200, response.get_json()
    return response.get_json()["receipt"]


def by_purpose(receipt):
    return {p["purpose"]: p for p in receipt["purposes"]}


def verify(client, receipt):
    keys = keys_by_kid(client.get("/.well-known/consentry-keys").get_json())
    document = {k: v for k, v in receipt.items() if k != "signature"}
    verify_document(keys, document, receipt["signature"])
    return keys, document


def test_an_eu_receipt_says_personalization_rests_on_an_opt_out_basis(put_consents, app):
    receipt = receipt_of(put_consents("u-eu", EU_CHOICES, jurisdiction="EU"))
    purposes = by_purpose(receipt)
    assert receipt["jurisdiction"] == "EU"
    for pid in ("personalization", "analytics"):  # legitimate interest, with a right to object
        assert purposes[pid]["basis"] == "opt_out"
        assert purposes[pid]["lawful_basis"] == "dpv:LegitimateInterest"
        assert purposes[pid]["right_to_object"] is True
    assert purposes["marketing"]["basis"] == "opt_in"
    assert purposes["marketing"]["lawful_basis"] == "dpv:Consent"
    assert purposes["marketing"]["right_to_object"] is False
    assert "advertising" not in purposes  # not chosen, not governed by this write
    # each purpose's basis is the policy's jurisdiction default, not a second table
    eu = get_policy(app).jurisdictions["EU"]
    for pid, purpose in purposes.items():
        assert purpose["lawful_basis"] == LAWFUL_BASES[eu.basis[pid]]
    # sensitive categories need their own grant even under legitimate interest
    assert "location_precise" in purposes["personalization"]["explicit_consent_categories"]
    assert "location_precise" not in purposes["personalization"]["categories"]
    # what each choice records, in DPV terms
    recorded = [(c["purpose"], c.get("category"), c["lawful_basis"], c["dpv"])
                for c in receipt["choices"]]
    assert recorded == [
        ("personalization", None, "dpv:LegitimateInterest", "dpv:LegitimateInterestNotObjected"),
        ("personalization", "location_precise", "dpv:ExplicitlyExpressedConsent",
         "dpv:ConsentGiven"),
        ("analytics", None, "dpv:LegitimateInterest", "dpv:LegitimateInterestObjected"),
        ("marketing", None, "dpv:Consent", "dpv:ConsentGiven"),
    ]
    assert purposes["personalization"]["dpv_purpose"] == "dpv:Personalisation"


def test_us_and_default_receipts_rest_on_opt_out_with_sale_or_sharing_for_ads(put_consents):
    for jurisdiction in ("US-CA", "DEFAULT"):
        receipt = receipt_of(put_consents(f"u-{jurisdiction}", [
            {"purpose": "advertising", "status": "denied"},
            {"purpose": "marketing", "status": "granted"}], jurisdiction=jurisdiction))
        purposes = by_purpose(receipt)
        assert receipt["jurisdiction"] == jurisdiction
        assert purposes["advertising"]["basis"] == purposes["marketing"]["basis"] == "opt_out"
        assert purposes["advertising"]["sale_sharing"] is True
        assert purposes["marketing"]["sale_sharing"] is False
        assert [c["dpv"] for c in receipt["choices"]] == [
            "dpv:LegitimateInterestObjected", "dpv:LegitimateInterestNotObjected"]


def test_categories_carry_sensitivity_and_retention_and_the_consent_has_a_validity(
        put_consents, app):
    receipt = receipt_of(put_consents("u-cat", EU_CHOICES, jurisdiction="EU"))
    policy = get_policy(app)
    categories = {c["category"]: c for c in receipt["data_categories"]}
    assert set(categories) == set(policy.categories)
    dpv = {"standard": "dpv:PersonalData", "sensitive": "dpv:SensitivePersonalData",
           "special": "dpv:SpecialCategoryPersonalData"}
    for cid, category in policy.categories.items():
        shown = categories[cid]
        assert shown["sensitivity"] == category.sensitivity
        assert shown["dpv_data"] == dpv[category.sensitivity]
        assert shown["explicit_consent_required"] is (category.sensitivity != "standard")
        assert shown["retention"]["class"] == category.retention_class
        assert shown["retention"]["days"] == policy.retention_classes[category.retention_class]
    assert categories["health"]["sensitivity"] == "special"
    assert categories["behavioral"]["retention"] == {"class": "behavioral", "days": 90,
                                                     "duration": "P90D", "until": None}
    assert categories["declared"]["retention"] == {"class": "profile", "days": None,
                                                   "duration": None, "until": "account_closed"}
    validity = receipt["consent_validity"]
    assert validity["days"] == policy.consent_valid_days == 395
    assert validity["duration"] == "P395D"
    issued = datetime.fromisoformat(receipt["issued_at"])
    assert datetime.fromisoformat(validity["valid_until"]) == issued + timedelta(days=395)
    withdrawal = receipt["withdrawal"]
    assert withdrawal["url"] == policy.preference_center_url
    assert withdrawal["api"] == ["PUT /v1/subjects/u-cat/consents",
                                 "POST /v1/subjects/u-cat/opt-out"]
    assert receipt["language"] == "en"
    assert receipt["notice"] == {"notice_id": None, "version": None, "url": None,
                                 "sha256": None}


CUSTOM_CONTROLLER = """
[controller]
name = "Brötchen & Co. KG"
email = "datenschutz@broetchen.example"
address = { street = "Hauptstraße 5", locality = "München", country = "DE" }
dpo = { email = "dsb@broetchen.example" }

[[recipients]]
id = "ad_partner"
name = "Ad Partner SAS"
role = "third_party"
purposes = ["advertising"]
country = "FR"

[[recipients]]
id = "hosting"
name = "Hosting AG"
role = "processor"
purposes = ["personalization", "advertising"]
"""


@pytest.fixture
def custom_app(make_app, tmp_path):
    text = load_policy().to_toml()
    data = tomllib.loads(text)
    data.pop("controller")
    data.pop("recipients")
    data["consent_valid_days"] = 180
    import tomli_w
    path = tmp_path / "policy.toml"
    path.write_text(tomli_w.dumps(data) + CUSTOM_CONTROLLER, encoding="utf-8")
    return make_app(POLICY_FILE=str(path))


def test_controller_contact_and_recipients_come_from_the_policy(custom_app):
    from consentry import auth
    from consentry.db import get_db
    with custom_app.app_context(), get_db(custom_app).transaction() as s:
        key = auth.create_key(s, "pc", ["preferences:write", "preferences:read"])
    client = custom_app.test_client()
    r = client.put("/v1/subjects/u-c/consents", headers={"Authorization": f"Bearer {key}"},
                   json={"source": "pc", "jurisdiction": "US-CA", "choices": [
                       {"purpose": "advertising", "status": "granted"}]})
    receipt = receipt_of(r)
    assert receipt["controller"] == {
        "name": "Brötchen & Co. KG", "email": "datenschutz@broetchen.example", "phone": None,
        "url": None, "address": {"street": "Hauptstraße 5", "locality": "München",
                                 "country": "DE"},
        "dpo": {"name": None, "email": "dsb@broetchen.example"}}
    assert receipt["recipients"] == [
        {"name": "Ad Partner SAS", "role": "third_party", "dpv_role": "dpv:ThirdParty",
         "purposes": ["advertising"], "country": "FR"},
        {"name": "Hosting AG", "role": "processor", "dpv_role": "dpv:DataProcessor",
         "purposes": ["advertising"], "country": None}]
    assert by_purpose(receipt)["advertising"]["recipients"] == ["Ad Partner SAS", "Hosting AG"]
    assert receipt["consent_validity"]["days"] == 180
    verify(client, receipt)
    shown = custom_app.test_cli_runner().invoke(args=["policy", "show"])
    assert shown.exit_code == 0
    printed = tomllib.loads(shown.output)
    assert printed["controller"]["name"] == "Brötchen & Co. KG"
    assert printed["controller"]["dpo"] == {"email": "dsb@broetchen.example"}
    assert [r["name"] for r in printed["recipients"]] == ["Ad Partner SAS", "Hosting AG"]
    assert printed["consent_valid_days"] == 180


def test_the_signature_covers_the_whole_new_body(put_consents, client, writer):
    receipt = receipt_of(put_consents("u-sig", EU_CHOICES, jurisdiction="EU"))
    keys, document = verify(client, receipt)
    again = client.get(f"/v1/subjects/u-sig/receipts/{receipt['receipt_id']}", headers=writer)
    assert again.get_json() == receipt
    tampered = [
        {**document, "purposes": [{**document["purposes"][0], "lawful_basis": "dpv:Consent"},
                                  *document["purposes"][1:]]},
        {**document, "consent_validity": {**document["consent_validity"], "days": 3650}},
        {**document, "controller": {**document["controller"], "email": "x@evil.example"}},
        {**document, "recipients": document["recipients"][1:]},
        {**document, "data_categories": [{**document["data_categories"][0],
                                          "sensitivity": "special"},
                                         *document["data_categories"][1:]]},
    ]
    for changed in tampered:
        with pytest.raises(SignatureError):
            verify_document(keys, changed, receipt["signature"])


def test_switches_name_the_purposes_the_gate_stops_with_them(client, writer):
    r = client.post("/v1/subjects/u-sw/opt-out", headers=writer, json={"scope": "all"})
    receipt = receipt_of(r)
    assert [p["purpose"] for p in receipt["purposes"]] == ["personalization", "advertising"]
    assert [c["dpv"] for c in receipt["choices"]] == ["dpv:OptingOutFromProcess"] * 2
    verify(client, receipt)


def kantara(client, writer, subject, receipt_id, **query):
    return client.get(f"/v1/subjects/{subject}/receipts/{receipt_id}",
                      query_string={"format": "kantara", **query}, headers=writer)


def test_the_kantara_view_has_the_required_fields_and_matches_the_record(
        put_consents, client, writer):
    receipt = receipt_of(put_consents("u-k", [
        *EU_CHOICES, {"purpose": "advertising", "category": "health", "status": "granted"}],
        jurisdiction="EU"))
    r = kantara(client, writer, "u-k", receipt["receipt_id"])
    assert r.status_code == 200
    view = r.get_json()
    for name in ("version", "jurisdiction", "consentTimestamp", "collectionMethod",
                 "consentReceiptID", "language", "piiPrincipalId", "piiControllers",
                 "policyUrl", "services", "sensitive", "spiCat"):
        assert name in view, name
    assert "signature" not in view  # derived, not signed: the record's bytes are
    assert view["version"] == "KI-CR-v1.1.0"
    assert view["jurisdiction"] == receipt["jurisdiction"]
    assert view["consentTimestamp"] == int(datetime.fromisoformat(
        receipt["issued_at"]).timestamp())
    assert view["collectionMethod"] == receipt["collection_method"] == "preference_center"
    assert view["consentReceiptID"] == receipt["receipt_id"]
    assert view["piiPrincipalId"] == "u-k" and view["language"] == receipt["language"]
    assert view["policyUrl"] == receipt["policy_url"]
    jwks = client.get("/.well-known/consentry-keys").get_json()
    assert view["publicKey"] == next(k["x"] for k in jwks["keys"]
                                     if k["kid"] == receipt["signature"]["kid"])
    controller = receipt["controller"]
    assert view["piiControllers"] == [{
        "piiController": controller["name"], "contact": controller["dpo"]["name"],
        "email": controller["dpo"]["email"], "phone": controller["phone"],
        "address": {"streetAddress": controller["address"]["street"],
                    "postalCode": controller["address"]["postal_code"],
                    "addressLocality": controller["address"]["locality"],
                    "addressCountry": controller["address"]["country"]}}]
    [service] = view["services"]
    assert service["service"] == controller["name"]
    purposes = {p["purpose"]: p for p in service["purposes"]}
    assert list(purposes) == [p["label"] for p in receipt["purposes"]]
    labels = {c["category"]: c["label"] for c in receipt["data_categories"]}
    for record in receipt["purposes"]:
        shown = purposes[record["label"]]
        assert shown["consentType"] == ("IMPLICIT" if record["basis"] == "opt_out"
                                        else "EXPLICIT")
        assert shown["purposeCategory"] == [record["dpv_purpose"]]
        assert shown["piiCategory"] == [labels[c] for c in (
            *record["categories"], *record["explicit_consent_categories"])]
        assert shown["primaryPurpose"] is False and shown["termination"]
    assert purposes["Personalization"]["consentType"] == "IMPLICIT"
    assert purposes["Advertising"]["thirdPartyDisclosure"] is True
    assert purposes["Advertising"]["thirdPartyName"] == "Example Ad Exchange Inc."
    assert purposes["Analytics"]["thirdPartyDisclosure"] is False
    assert "thirdPartyName" not in purposes["Analytics"]
    assert receipt["consent_validity"]["valid_until"] in purposes["Marketing"]["termination"]
    # the sensitive categories this write granted
    assert view["sensitive"] is True
    assert view["spiCat"] == ["Your precise location", "Health information"]
    iso = client.get(f"/v1/subjects/u-k/receipts/{receipt['receipt_id']}?format=iso27560",
                     headers=writer)
    assert iso.get_json() == receipt


def test_an_unknown_format_is_a_422_and_another_subjects_receipt_is_not_found(
        put_consents, client, writer):
    receipt = receipt_of(put_consents("u-f", EU_CHOICES, jurisdiction="EU"))
    for bad in ("pdf", "KANTARA", ""):
        r = kantara(client, writer, "u-f", receipt["receipt_id"], format=bad)
        assert r.status_code == 422
        assert "format" in r.get_json()["error"]["fields"]
    assert kantara(client, writer, "u-other", receipt["receipt_id"]).status_code == 404


def test_german_labels_and_addresses_survive_signing_and_the_kantara_view(
        put_consents, client, writer):
    receipt = receipt_of(put_consents("u-de", EU_CHOICES, jurisdiction="EU",
                                      headers={"Accept-Language": "de"}))
    assert receipt["language"] == "de"
    assert by_purpose(receipt)["personalization"]["label"] == "Personalisierung"
    assert receipt["choices"][1]["category_label"] == "Ihr genauer Standort"
    labels = {c["category"]: c["label"] for c in receipt["data_categories"]}
    assert labels["behavioral"] == "Ihre Aktivität in unserem Produkt"
    assert receipt["controller"]["address"]["street"] == "Beispielstraße 1"
    verify(client, receipt)
    stored = client.get(f"/v1/subjects/u-de/receipts/{receipt['receipt_id']}", headers=writer)
    assert "Aktivität".encode() in stored.get_data()  # UTF-8 as is, not escaped
    assert stored.get_json() == receipt
    verify(client, stored.get_json())
    view = kantara(client, writer, "u-de", receipt["receipt_id"]).get_json()
    assert view["language"] == "de"
    [service] = view["services"]
    assert service["purposes"][0]["purpose"] == "Personalisierung"
    assert "Ihre Aktivität in unserem Produkt" in service["purposes"][0]["piiCategory"]
    assert view["piiControllers"][0]["address"]["streetAddress"] == "Beispielstraße 1"
    assert view["spiCat"] == ["Ihr genauer Standort"]


def test_a_receipt_issued_before_the_27560_fields_still_has_a_kantara_view():
    from consent.receipts import kantara_view
    v1 = {"version": "consentry-receipt/1", "receipt_id": "r-1",
          "issued_at": "2026-03-01T10:00:00Z", "subject_id": "u-old", "jurisdiction": "EU",
          "collection_method": "preference_center", "notice_version": None,
          "policy_version": "2026-01-01", "policy_digest": "0" * 64,
          "controller": {"name": "Example Company Ltd."}, "policy_url": "https://e.example/p",
          "choices": [{"purpose": "marketing", "category": None, "channel": "email",
                       "status": "granted", "event_id": "e-1", "purpose_label": "Marketing"}]}
    view = kantara_view(v1)
    assert view["consentTimestamp"] == 1772359200
    assert view["piiControllers"][0]["piiController"] == "Example Company Ltd."
    assert view["services"] == [{"service": "Example Company Ltd.", "purposes": []}]
    assert view["language"] == "en" and view["sensitive"] is False


@pytest.mark.parametrize("jurisdiction", ["EU", "US-CA", "default"])
def test_a_batch_memo_builds_the_very_record_built_alone(jurisdiction):
    # The import builds many receipts of one moment with a memo; each must be exactly the
    # record built without one (what a live write signs).
    from datetime import UTC

    from consent.receipts import receipt_record

    policy = load_policy()
    juris = policy.jurisdiction(jurisdiction)
    now = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    purposes = list(policy.purposes)
    memo = {}
    for i in range(12):
        choices = [{"purpose": purposes[(i + k) % len(purposes)],
                    "category": ([None] + list(policy.categories))[(i * 3 + k)
                                                                   % (len(policy.categories)
                                                                      + 1)],
                    "channel": None, "status": ("granted", "denied", "withdrawn")[(i + k) % 3],
                    "event_id": f"e-{i}-{k}"} for k in range(1 + i % 3)]
        args = {"receipt_id": f"r-{i}", "issued_at": now, "subject_id": f"u-{i}",
                "jurisdiction": juris, "source": "old_cmp", "language": ("en", "de")[i % 2],
                "notice": {"notice_id": None, "version": "v7", "url": None, "sha256": None},
                "choices": choices}
        alone = receipt_record(policy, **args)
        assert receipt_record(policy, **args, memo=memo) == alone
        assert list(receipt_record(policy, **args, memo=memo)["choices"][0]) == list(
            alone["choices"][0])
    assert memo  # not vacuous: the parts were shared


def test_each_receipt_format_matches_exactly_one_documented_schema(
        put_consents, client, writer):
    # Issue 21: both bodies matched both schemas of the operation's `oneOf`, so a strict
    # client could not tell a signed record from its Kantara view.
    from openapi_schema_validator import OAS30Validator

    spec = client.get("/openapi.json").get_json()
    answer = spec["paths"]["/v1/subjects/{subject_id}/receipts/{receipt_id}"]["get"][
        "responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["discriminator"]["propertyName"] == "version"
    receipt = receipt_of(put_consents("u-one", EU_CHOICES, jurisdiction="EU"))
    url = f"/v1/subjects/u-one/receipts/{receipt['receipt_id']}"
    bodies = {"Receipt": client.get(url, headers=writer).get_json(),
              "KantaraReceipt": kantara(client, writer, "u-one",
                                        receipt["receipt_id"]).get_json()}
    for name, body in bodies.items():
        matches = [ref["$ref"].rsplit("/", 1)[1] for ref in answer["oneOf"]
                   if OAS30Validator({**ref, "components": spec["components"]}).is_valid(body)]
        assert matches == [name]
        assert answer["discriminator"]["mapping"][body["version"]].endswith("/" + name)
        OAS30Validator({**answer, "components": spec["components"]}).validate(body)


def test_a_receipt_never_lists_a_category_the_policy_keeps_out_of_a_purpose(put_consents):
    receipt = receipt_of(put_consents("u-nf", [{"purpose": "advertising", "status": "granted"},
                                               {"purpose": "personalization",
                                                "status": "granted"}], jurisdiction="EU"))
    purposes = by_purpose(receipt)
    for cid in ("health", "financial"):  # not_for = ["advertising"]
        assert cid not in purposes["advertising"]["categories"]
        assert cid not in purposes["advertising"]["explicit_consent_categories"]
        assert cid in purposes["personalization"]["explicit_consent_categories"]
    assert "location_precise" in purposes["advertising"]["explicit_consent_categories"]
