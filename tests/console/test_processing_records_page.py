"""The printable record of processing (`/console/reports/processing-records`): each section
from the policy, the scope it needs, a print stylesheet, no script."""

from __future__ import annotations

from html import unescape

import tomli_w

from consentry.policy import load_policy
from tests.console.conftest import html_client, new_key, sign_in

PAGE = "/console/reports/processing-records"
RECIPE = {
    "name": "Nearby stores", "purpose": "personalization", "channels": ["web", "app"],
    "trigger": "opens the store finder", "audience": "everyone", "action": "nearest stores",
    "categories": ["behavioral", "health"], "explicit_grants": ["health"],
    "success_metric": "visits", "owner": "retail", "status": "live",
}


def _section(html: str, purpose: str) -> str:
    return html.split(f'id="activity-{purpose}"', 1)[1].split("</section>", 1)[0]


def test_the_page_shows_every_part_of_the_record(app, console, admin):
    assert app.test_client().put("/v1/recipes/nearby", headers=admin,
                                 json=RECIPE).status_code == 200
    client, _ = console("reports:read")
    r = client.get(PAGE)
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = unescape(r.text)
    assert "<h1>Record of processing activities</h1>" in html
    controller = html.split('id="controller"', 1)[1].split('id="security"', 1)[0]
    for fact in ("Example Company Ltd.", "privacy@example.com", "+49 30 1234567",
                 "Beispielstraße 1, 10115 Berlin, DE", "Data Protection Officer, dpo@example.com"):
        assert fact in controller, fact
    security = html.split('id="security"', 1)[1].split('id="activities"', 1)[0]
    assert security.count("<li>") == len(load_policy().security_measures)
    assert "hash-chained" in security
    personalization = _section(html, "personalization")
    assert "Customers; Visitors to our websites and apps" in personalization
    assert "Nearby stores (v1, Website, Mobile app)" in personalization
    assert "GDPR Art. 6(1)(f) legitimate interest" in personalization
    basis = personalization.split("Legal basis: Personalization", 1)[1].split("</table>", 1)[0]
    eu_row = basis.split("(EU)", 1)[1].split("</tr>", 1)[0]
    assert "Health information: GDPR Art. 9(2)(a) explicit consent" in eu_row
    assert "Activity in our product" not in eu_row  # standard: the purpose's basis covers it
    assert "Example Analytics GmbH" in personalization
    assert "<code>analytics</code>" in personalization
    assert "a DPIA is recommended" in personalization
    advertising = _section(html, "advertising")
    assert "Example Ad Exchange Inc. (US): Standard contractual clauses" in advertising
    assert "third country" in advertising and "a sale or share under the CCPA" in advertising
    assert "CCPA opt-out of sale/sharing (Cal. Civ. Code §1798.120)" in advertising
    marketing = _section(html, "marketing")
    assert "Customers; Newsletter subscribers" in marketing
    assert "GDPR Art. 6(1)(a) consent" in marketing
    assert "Transfers to third countries</dt><dd>None" in marketing
    assert "<script" not in html and "http-equiv" not in html
    assert 'href="/console/reports/processing-records.csv"' in html


def test_the_reports_page_links_to_it(console):
    client, _ = console("reports:read")
    html = client.get("/console/reports").text
    assert f'href="{PAGE}"' in html
    assert "EU: GDPR Art. 6(1)(a) consent" in unescape(html)  # marketing's basis, in words


def test_it_is_refused_without_reports_read_and_asks_for_a_session(app, console):
    client, name = console("audit:read", "recipes:read")
    r = client.get(PAGE)
    assert r.status_code == 403 and r.mimetype == "text/html"
    assert "lacks the scope 'reports:read'" in unescape(r.text)
    assert "Example Company Ltd." not in r.text
    anonymous = html_client(app).get(PAGE)
    assert anonymous.status_code == 302 and "/console/login?next=" in anonymous.headers["Location"]


def test_it_prints_without_the_console_around_it(app, console):
    client, _ = console("reports:read")
    html = client.get(PAGE).text
    assert 'rel="stylesheet" href="/static/consentry.css"' in html
    served = app.test_client().get("/static/consentry.css")
    css = served.get_data(as_text=True)
    served.close()
    print_rules = css.split("@media print", 1)[1].split("\n}\n", 1)[0]
    assert "header.site" in print_rules and "display: none" in print_rules
    assert "break-inside: avoid" in print_rules and "overflow: visible" in print_rules
    assert 'class="no-print"' in html


def test_an_operators_policy_without_contact_or_subjects_says_what_is_missing(
        make_app, tmp_path):
    data = load_policy().to_dict()
    data["controller"] = "Tiny Shop"
    data.pop("data_subjects")
    data["purposes"]["marketing"].pop("data_subjects")
    data["security_measures"] = ["Laptops are encrypted."]
    data["recipients"] = []
    path = tmp_path / "policy.toml"
    path.write_text(tomli_w.dumps(data))
    app = make_app(POLICY_FILE=str(path))
    key, _ = new_key(app, "reports:read")
    client = html_client(app)
    assert sign_in(client, key).status_code == 303
    html = unescape(client.get(PAGE).text)
    controller = html.split('id="controller"', 1)[1].split('id="security"', 1)[0]
    assert "Tiny Shop" in controller and "Not stated in the policy" in controller
    assert "without contact details" in html
    assert "<li>Laptops are encrypted.</li>" in html
    marketing = _section(html, "marketing")
    assert "Not stated in the policy</span> (<code>data_subjects</code>)" in marketing
    assert "No recipient in the policy receives data for this purpose." in marketing
