"""The record of processing activities carries what GDPR Art. 30(1) asks for: controller and
DPO, data subjects, recipients, third-country transfers, the basis in the law's words and
the security measures, from the shipped policy and from an operator's own."""

import csv
import io

import pytest
import tomli_w

from consentry.policy import PolicyError, load_policy, parse_policy, shipped_security_measures

RECIPE = {
    "name": "Nearby stores", "purpose": "personalization", "channels": ["web"],
    "trigger": "opens the store finder", "audience": "everyone", "action": "nearest stores",
    "categories": ["behavioral", "location_precise", "health"],
    "explicit_grants": ["location_precise", "health"], "success_metric": "visits",
    "owner": "retail", "status": "live",
}
SHIPPED_COLUMNS = ["purpose", "controller", "categories", "sensitive_categories", "retention",
                   "stored_in", "legal_basis", "recipes", "dpia_recommended", "dpia_reasons"]


def _record(app, key):
    r = app.test_client().get("/v1/reports/processing-records", headers=key)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _csv_rows(app, key):
    r = app.test_client().get("/v1/reports/processing-records?format=csv", headers=key)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    reader = csv.DictReader(io.StringIO(r.get_data(as_text=True)))
    return reader.fieldnames, {row["purpose"]: row for row in reader}


def _by_purpose(record):
    return {a["purpose"]: a for a in record["activities"]}


def test_the_shipped_record_names_controller_dpo_subjects_and_security(app, make_key):
    record = _record(app, make_key("reports:read"))
    contact = record["controller_contact"]
    assert contact["name"] == record["controller"] == "Example Company Ltd."
    assert contact["email"] == "privacy@example.com" and contact["phone"] == "+49 30 1234567"
    assert contact["address"] == {"street": "Beispielstraße 1", "postal_code": "10115",
                                  "locality": "Berlin", "country": "DE"}
    assert contact["dpo"] == {"name": "Data Protection Officer", "email": "dpo@example.com"}
    assert record["data_subjects"] == ["Customers", "Visitors to our websites and apps"]
    activities = _by_purpose(record)
    assert activities["analytics"]["data_subjects"] == record["data_subjects"]
    assert activities["marketing"]["data_subjects"] == ["Customers", "Newsletter subscribers"]
    measures = " ".join(record["security_measures"])
    for what in ("signed with Ed25519", "hash-chained", "AES-256-GCM", "purges",
                 "API keys scoped"):
        assert what in measures, what


def test_the_shipped_record_names_recipients_and_transfers_per_purpose(app, make_key):
    activities = _by_purpose(_record(app, make_key("reports:read")))
    assert [(r["id"], r["name"], r["role"], r["country"])
            for r in activities["analytics"]["recipients"]] == [
        ("analytics", "Example Analytics GmbH", "processor", "DE")]
    assert activities["analytics"]["transfers"] == []  # Germany is in the EU
    assert [r["id"] for r in activities["marketing"]["recipients"]] == ["mailer"]
    exchange, = activities["advertising"]["recipients"]
    assert exchange["third_country"] is True and exchange["sale_sharing"] is True
    assert exchange["dpv_role"] == "dpv:ThirdParty"
    assert activities["advertising"]["transfers"] == [{
        "id": "ad_exchange", "name": "Example Ad Exchange Inc.", "country": "US",
        "transfer_safeguard": "Standard contractual clauses (Commission Decision (EU) "
                              "2021/914), module 1"}]


def test_the_legal_basis_is_in_the_words_of_each_jurisdictions_law(app, make_key, admin):
    assert app.test_client().put("/v1/recipes/nearby", headers=admin,
                                 json=RECIPE).status_code == 200
    activities = _by_purpose(_record(app, make_key("reports:read")))
    assert activities["marketing"]["legal_basis_text"] == {
        "EU": "GDPR Art. 6(1)(a) consent", "US-CA": "CCPA opt-out (Cal. Civ. Code §1798.120)",
        "DEFAULT": "Opt-out (processed until the person objects)"}
    assert activities["advertising"]["legal_basis_text"]["US-CA"] == \
        "CCPA opt-out of sale/sharing (Cal. Civ. Code §1798.120)"
    personalization = activities["personalization"]
    assert personalization["legal_basis"]["EU"] == "opt_out"  # kept as it was
    assert personalization["legal_basis_text"]["EU"] == "GDPR Art. 6(1)(f) legitimate interest"
    by = {c["category"]: c["legal_basis_text"] for c in personalization["categories"]}
    assert by["behavioral"] == personalization["legal_basis_text"]  # the purpose's basis
    assert by["location_precise"]["EU"] == "GDPR Art. 6(1)(a) consent to the category itself"
    assert by["health"]["EU"] == "GDPR Art. 9(2)(a) explicit consent"
    assert by["health"]["US-CA"] == ("CCPA sensitive personal information, used only with "
                                     "consent (Cal. Civ. Code §1798.121)")


def test_the_csv_keeps_its_columns_and_adds_the_new_ones_at_the_end(app, make_key):
    columns, rows = _csv_rows(app, make_key("reports:read"))
    assert columns[:len(SHIPPED_COLUMNS)] == SHIPPED_COLUMNS
    assert columns[len(SHIPPED_COLUMNS):] == [
        "controller_contact", "dpo", "data_subjects", "recipients", "third_country_transfers",
        "legal_basis_text", "security_measures"]
    ads = rows["advertising"]
    assert ads["controller_contact"] == ("privacy@example.com; +49 30 1234567; "
                                         "Beispielstraße 1, 10115 Berlin, DE")
    assert ads["dpo"] == "Data Protection Officer <dpo@example.com>"
    assert ads["recipients"] == "ad_exchange=Example Ad Exchange Inc. (third_party, US)"
    assert ads["third_country_transfers"].startswith("ad_exchange=US: Standard contractual")
    assert "EU=GDPR Art. 6(1)(a) consent" in ads["legal_basis_text"]
    assert rows["marketing"]["data_subjects"] == "Customers; Newsletter subscribers"
    assert rows["analytics"]["third_country_transfers"] == ""
    assert "hash-chained" in ads["security_measures"]


@pytest.fixture
def own_app(make_app, tmp_path):
    """An operator's own policy: the controller by name alone, no data subjects, jurisdictions
    whose law comes from their ids (DE, GB) or is none, its own recipients and measures."""
    data = load_policy().to_dict()
    data["controller"] = "Tiny Shop"
    data.pop("data_subjects")
    data["purposes"]["marketing"].pop("data_subjects")
    data["purposes"]["analytics"]["data_subjects"] = ["Shop visitors"]
    data["security_measures"] = ["Laptops are encrypted.", "Staff are trained yearly."]
    jurisdictions = {}
    for jid, source in (("DE", "EU"), ("GB", "EU"), ("MARS", "EU")):
        jurisdictions[jid] = {k: v for k, v in data["jurisdictions"][source].items()
                              if k != "law"}
    data["jurisdictions"] = jurisdictions
    data["default_jurisdiction"] = "DE"
    data["recipients"] = [{"id": "tokyo-crm", "name": "CRM KK", "role": "processor",
                           "purposes": ["analytics"], "country": "JP",
                           "transfer_safeguard": "Adequacy decision (EU) 2019/419"}]
    path = tmp_path / "policy.toml"
    path.write_text(tomli_w.dumps(data))
    return make_app(POLICY_FILE=str(path))


def test_an_operators_own_policy_fills_the_record(own_app, make_key):
    key = make_key("reports:read")
    record = _record(own_app, key)
    assert record["controller_contact"] == {"name": "Tiny Shop"}
    assert record["data_subjects"] == []
    assert record["security_measures"] == ["Laptops are encrypted.", "Staff are trained yearly."]
    activities = _by_purpose(record)
    assert activities["marketing"]["data_subjects"] == []
    assert activities["analytics"]["data_subjects"] == ["Shop visitors"]
    assert activities["analytics"]["legal_basis_text"] == {
        "DE": "GDPR Art. 6(1)(f) legitimate interest",
        "GB": "UK GDPR Art. 6(1)(f) legitimate interest",
        "MARS": "Opt-out (processed until the person objects)"}
    assert activities["analytics"]["transfers"] == [{
        "id": "tokyo-crm", "name": "CRM KK", "country": "JP",
        "transfer_safeguard": "Adequacy decision (EU) 2019/419"}]
    assert activities["advertising"]["recipients"] == []
    _columns, rows = _csv_rows(own_app, key)
    assert rows["analytics"]["controller_contact"] == "" and rows["analytics"]["dpo"] == ""
    assert rows["analytics"]["recipients"] == "tokyo-crm=CRM KK (processor, JP)"
    assert rows["analytics"]["security_measures"] == "Laptops are encrypted. " \
                                                     "Staff are trained yearly."


def test_a_policy_without_security_measures_gets_what_consentry_does():
    data = load_policy().to_dict()
    data.pop("security_measures")
    policy = parse_policy(data)
    assert policy.security_measures == shipped_security_measures() == \
        load_policy().security_measures
    assert parse_policy(policy.to_dict()) == policy


def test_the_new_keys_round_trip_and_law_can_be_named():
    data = load_policy().to_dict()
    data["jurisdictions"]["DEFAULT"]["law"] = "gdpr"
    data["jurisdictions"]["EU"]["law"] = "none"
    policy = parse_policy(data)
    assert policy.jurisdictions["DEFAULT"].law == "gdpr"
    assert policy.jurisdictions["EU"].law is None
    assert policy.jurisdictions["EU"].basis_in_law("marketing") == "Consent (opt-in)"
    assert parse_policy(policy.to_dict()) == policy
    assert policy.purposes["marketing"].data_subjects == ("Customers", "Newsletter subscribers")


def _set(path, value):
    def mutate(data):
        *parents, last = path
        for key in parents:
            data = data[key]
        data[last] = value
    return mutate


@pytest.mark.parametrize("mutate, message", [
    (_set(["data_subjects"], "customers"), "data_subjects: expected list, got str"),
    (_set(["data_subjects"], []), "data_subjects: name at least one, or leave the key out"),
    (_set(["data_subjects"], ["Customers", " "]), "data_subjects.1: expected a non-empty string"),
    (_set(["data_subjects"], ["Customers", 7]), "data_subjects.1: expected a non-empty string"),
    (_set(["data_subjects"], ["Customers", "Customers"]), "data_subjects: each entry once"),
    (_set(["purposes", "marketing", "data_subjects"], [""]),
     "purposes.marketing.data_subjects.0: expected a non-empty string"),
    (_set(["purposes", "marketing", "data_subjects"], "subscribers"),
     "purposes.marketing.data_subjects: expected list"),
    (_set(["security_measures"], []), "security_measures: name at least one"),
    (_set(["security_measures"], [{"a": 1}]), "security_measures.0: expected a non-empty string"),
    (_set(["jurisdictions", "EU", "law"], "gdrp"),
     "jurisdictions.EU.law: must be one of gdpr, uk_gdpr, ccpa, none, got 'gdrp'"),
    (_set(["jurisdictions", "EU", "law"], 1), "jurisdictions.EU.law: expected str"),
])
def test_validation_of_the_new_keys_names_the_key(mutate, message):
    data = load_policy().to_dict()
    mutate(data)
    with pytest.raises(PolicyError) as info:
        parse_policy(data)
    assert message in str(info.value)


def test_the_policy_api_names_each_jurisdictions_law(client, make_key):
    body = client.get("/v1/policy", headers=make_key("policy:read")).get_json()
    assert {j["id"]: j["law"] for j in body["jurisdictions"]} == {
        "EU": "gdpr", "US-CA": "ccpa", "DEFAULT": None}
