"""Hostile input on every route: each answer is a 4xx in the one envelope, never a 500,
and the service still answers afterwards.

The routes come from `app.url_map` (a new route is attacked without anyone listing it);
which of them take a JSON body and which query parameters each declares come from the
OpenAPI document the service serves.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime

import pytest

SUBJECT = "u-hostile"
NOW = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

# A body each JSON route accepts (checked below), so that breaking one field at a time
# shows the field's own check answering. A JSON route missing here fails the test.
VALID_BODIES = {
    ("PUT", "/v1/subjects/{subject_id}/consents"): {
        "source": "preference_center",
        "choices": [{"purpose": "personalization", "status": "granted"}]},
    ("POST", "/v1/subjects/{subject_id}/consents/reject-all"): {"source": "preference_center"},
    ("POST", "/v1/subjects/{subject_id}/opt-out"): {"scope": "personalization"},
    ("POST", "/v1/signals/check"): {"purpose": "personalization", "subjects": [SUBJECT]},
    ("POST", "/v1/decisions"): {"subject_id": SUBJECT, "surface": "home",
                                "item": {"id": "sku-1"}, "decided_at": NOW},
    ("POST", "/v1/decisions/batch"): {"decisions": [
        {"subject_id": SUBJECT, "surface": "home", "item": {"id": "sku-1"}, "decided_at": NOW,
         "signals_used": [{"category": "behavioral"}]}]},
    ("POST", "/v1/retention/runs"): {"dry_run": True},
    ("POST", "/v1/retention/holds"): {"subject_id": SUBJECT, "reason": "case 1"},
    ("POST", "/v1/audit/exports"): {"since": NOW},
    ("POST", "/v1/subjects/{subject_id}/preference-link"): {
        "language": "de", "return_url": "https://example.com/account"},
    ("POST", "/v1/subjects/{subject_id}/explanations/{decision_id}/link"): {"language": "en"},
    ("PUT", "/v1/recipes/{recipe_id}"): {
        "name": "n", "purpose": "personalization", "channels": ["web"], "trigger": "t",
        "audience": "a", "action": "x", "categories": ["behavioral"], "success_metric": "m",
        "owner": "o", "status": "draft"},
    ("POST", "/v1/subjects/{subject_id}/erasure"): {"reason": "DSR-1"},
    ("PUT", "/v1/notices/{notice_id}"): {
        "version": "2026-11", "url": "https://example.com/privacy", "sha256": "0" * 64,
        "material": True},
    ("POST", "/v1/subjects/{subject_id}/access-exports"): {"reason": "DSAR-1"},
    ("POST", "/v1/requests"): {"subject_id": SUBJECT, "type": "access", "source": "api"},
    ("POST", "/v1/requests/{request_id}/transition"): {"to": "in_progress"},
    ("POST", "/v1/requests/{request_id}/extend"): {"reason": "complex"},
    # a public address written as one, so registration needs no DNS
    ("PUT", "/v1/webhooks/{webhook_id}"): {
        "url": "https://1.1.1.1/hooks/consentry", "recipient": "mailer",
        "events": ["consent.changed"], "enabled": True},
}


def _nested(depth: int) -> dict:
    value: dict = {"id": "sku-1"}
    for _ in range(depth):
        value = {"id": "sku-1", "n": value}
    return value


# (what it is, body bytes, Content-Type): every one is refused on every route.
HOSTILE_BODIES = [
    ("json without a type", b'{"dry_run": true}', None),
    ("json as text", b'{"dry_run": true}', "text/plain"),
    ("a form", b"dry_run=true", "application/x-www-form-urlencoded"),
    ("truncated", b'{"source": ', "application/json"),
    ("NaN", b'{"dry_run": NaN}', "application/json"),
    ("Infinity", b'{"weight": Infinity, "x": -Infinity}', "application/json"),
    ("4,301 digits", b'{"limit": ' + b"9" * 4301 + b"}", "application/json"),
    ("past int64", b'{"limit": 9223372036854775808}', "application/json"),
    ("past a double", b'{"weight": 1e999}', "application/json"),
    ("100,000 deep", b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ("item 300 deep", json.dumps({"subject_id": SUBJECT, "surface": "s", "decided_at": NOW,
                                  "item": _nested(300)}).encode(), "application/json"),
    ("lone surrogates", b'{"source": "\\ud800", "surface": "\\udfff x"}', "application/json"),
    ("surrogate key", b'{"\\udc00": 1}', "application/json"),
    ("invalid UTF-8", b'{"source": "\xff\xfe\xc0\x80"}', "application/json"),
    ("UTF-16", '{"source": "x"}'.encode("utf-16"), "application/json"),
    ("over the size limit", b'{"x": "' + b"a" * (1024 * 1024) + b'"}', "application/json"),
]

# Values of the wrong kind for each OpenAPI type (a huge string is wrong for every
# string field: each has a length bound).
WRONG = {
    "string": [12345, {"a": 1}, ["a"], True, "x" * 100_000],
    "boolean": ["perhaps", 2, {}, []],
    "integer": ["ten", 1.5, [], True],
    "number": ["heavy", [], {}, True],
    "array": ["a,b", {"a": 1}, 7],
    "object": ["x", [1], 7],
}
DATE_TIMES = ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
              "0001-01-01T00:00:00Z", "not a time", "2026-02-30T00:00:00Z", 1e308]


def cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


CURSORS = ["%%%", cursor({"seq": 10**30}), cursor({"p": 10**30}), cursor({"before": 10**30}),
           cursor({"t": "0001-01-01T00:00:00+05:00", "id": "x"}), cursor({"seq": -1}),
           cursor([[[[[[]]]]]] * 3), base64.urlsafe_b64encode(b"[" * 5000).decode()]
LIMITS = ["0", "-1", "1001", "10" + "0" * 30, "NaN", "1e3", "ten", ""]


def assert_envelope_4xx(r, what):
    assert 400 <= r.status_code < 500, (what, r.status_code, r.get_data()[:300])
    error = r.get_json()["error"]
    assert error["code"] and error["message"], what
    return error


def assert_refused(r, what, html_routes: set[str], path: str):
    """A 4xx: the envelope, or on an HTML entry's route (the pages for people) a page (or
    the envelope when routing refused the URL before any page matched it)."""
    if path not in html_routes or r.mimetype == "application/json":
        return assert_envelope_4xx(r, what)
    assert 400 <= r.status_code < 500 and r.mimetype == "text/html", (what, r.status_code)
    return None


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").get_json()


@pytest.fixture
def html_routes(app):
    """OpenAPI-style paths of the HTML entries (blueprints that take forms): they answer
    errors with a page for people, not the JSON envelope."""
    from consentry.inbound import FORM_BLUEPRINTS
    forms = app.extensions.get(FORM_BLUEPRINTS, set())
    return {openapi_path(rule) for rule in app.url_map.iter_rules()
            if rule.endpoint.split(".")[0] in forms}


@pytest.fixture
def known_ids(client, admin):
    """Path values that name something real (a decision of SUBJECT, a privacy request),
    where "x" would 404."""
    r = client.post("/v1/decisions", headers=admin, json={
        "subject_id": SUBJECT, "surface": "home", "item": {"id": "sku-1"}, "decided_at": NOW})
    request = client.post("/v1/requests", headers=admin, json={
        "subject_id": SUBJECT, "type": "objection", "source": "api"})
    return {"decision_id": r.get_json()["decision_id"],
            "request_id": request.get_json()["request_id"]}


def openapi_path(rule) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)


def concrete(path: str, **values) -> str:
    return re.sub(r"{([^}]+)}", lambda m: values.get(m.group(1), SUBJECT
                                                     if m.group(1) == "subject_id" else "x"),
                  path)


def every_route(app):
    """(method, OpenAPI-style path) for every route and method the app serves."""
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, openapi_path(rule)


def form_routes(app) -> set[tuple[str, str]]:
    """The routes of the HTML entries that take form bodies (inbound.accept_forms): a
    form is their input, checked by its CSRF token, not a hostile body."""
    from consentry.inbound import FORM_BLUEPRINTS

    takes_forms = app.extensions.get(FORM_BLUEPRINTS, set())
    return {(method, openapi_path(rule)) for rule in app.url_map.iter_rules()
            if rule.endpoint.split(".")[0] in takes_forms
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def resolve(spec, schema):
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def body_schema(spec, method, path):
    op = spec["paths"].get(path, {}).get(method.lower(), {})
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    return resolve(spec, content["schema"]) if content else None


def query_params(spec, method, path):
    op = spec["paths"].get(path, {}).get(method.lower(), {})
    return [p for p in op.get("parameters", []) if p["in"] == "query"]


def test_every_route_refuses_a_hostile_body(app, client, admin, html_routes):
    forms = form_routes(app)
    for method, path in every_route(app):
        url = concrete(path)
        for what, body, content_type in HOSTILE_BODIES:
            if what == "a form" and (method, path) in forms:
                continue
            headers = {**admin, **({"Content-Type": content_type} if content_type else {})}
            r = client.open(url, method=method, data=body, headers=headers)
            error = assert_refused(r, (method, path, what), html_routes, path)
            if path in html_routes:  # forms pass to the page (which refuses link "x")
                if content_type not in ("application/json",
                                        "application/x-www-form-urlencoded"):
                    assert r.status_code == 415, (method, path, what)
            elif content_type != "application/json":
                assert r.status_code == 415 and error["code"] == "unsupported_media_type"
    assert client.get("/healthz").status_code == 200


def test_every_json_route_refuses_wrong_shapes_and_types(app, client, admin, spec, known_ids):
    json_routes = [(m, p) for m, p in every_route(app) if body_schema(spec, m, p)]
    assert sorted(json_routes) == sorted(VALID_BODIES), "list a valid body for each JSON route"
    for method, path in json_routes:
        url = concrete(path, **known_ids)
        ok = client.open(url, method=method, json=VALID_BODIES[method, path], headers=admin)
        assert ok.status_code < 300, (method, path, ok.get_json())
        for whole in ([], "text", 42, None, True, [VALID_BODIES[method, path]]):
            r = client.open(url, method=method, data=json.dumps(whole),
                            content_type="application/json", headers=admin)
            assert_envelope_4xx(r, (method, path, whole))
        schema = body_schema(spec, method, path)
        for name, prop in schema.get("properties", {}).items():
            prop = resolve(spec, prop)
            kind = prop.get("type") or "object"
            wrongs = DATE_TIMES if prop.get("format") == "date-time" else WRONG[kind]
            for wrong in wrongs:
                body = {**VALID_BODIES[method, path], name: wrong}
                r = client.open(url, method=method, json=body, headers=admin)
                error = assert_envelope_4xx(r, (method, path, name, str(wrong)[:40]))
                assert r.status_code == 422 and error["fields"], (method, path, name)
    assert client.get("/healthz").status_code == 200


def test_every_query_parameter_survives_hostile_values(app, client, admin, spec):
    for method, path in every_route(app):
        url = concrete(path)
        for param in query_params(spec, method, path):
            name, schema = param["name"], param.get("schema", {})
            if schema.get("format") == "date-time":
                must_refuse = [v for v in DATE_TIMES if not isinstance(v, float)]
            elif name in ("cursor", "after"):
                must_refuse = CURSORS
            elif name == "limit":
                must_refuse = LIMITS
            else:
                must_refuse = []
            for value in must_refuse:
                r = client.open(url, method=method, query_string={name: value}, headers=admin)
                assert_envelope_4xx(r, (method, path, name, value[:40]))
            # anything else may be a valid filter: no 5xx, and an error is an envelope
            for value in ["\x00", "a\x00b", "x" * 20_000, "\u202e\ufeff", "%ff", "' OR 1=1 --"]:
                r = client.open(url, method=method, query_string={name: value}, headers=admin)
                assert r.status_code < 500, (method, path, name, value[:40], r.get_json())
                if r.status_code >= 400:
                    assert_envelope_4xx(r, (method, path, name))
    assert client.get("/healthz").status_code == 200


def test_every_path_parameter_survives_hostile_values(app, client, admin, html_routes):
    for method, path in every_route(app):
        names = re.findall(r"{([^}]+)}", path)
        for name in names:
            for value in ["%00", "a%00b", "x" * 5000, "..%2F..%2Fetc", "%ED%A0%80", "%FF"]:
                url = concrete(path, **{name: value})
                r = client.open(url, method=method, headers=admin,
                                **({"json": VALID_BODIES[method, path]}
                                   if (method, path) in VALID_BODIES else {}))
                assert r.status_code < 500, (method, url[:80], r.get_data()[:200])
                if r.status_code >= 400:
                    assert_refused(r, (method, path, name), html_routes, path)
    assert client.get("/healthz").status_code == 200


def test_every_route_survives_hostile_headers(app, client, admin, html_routes):
    idempotent = {("PUT", "/v1/subjects/{subject_id}/consents"),
                  ("POST", "/v1/subjects/{subject_id}/opt-out"), ("POST", "/v1/decisions"),
                  ("POST", "/v1/decisions/batch"),
                  ("POST", "/v1/retention/runs"), ("POST", "/v1/retention/holds")}
    hostile = [{"Idempotency-Key": "k" * 10_000}, {"Idempotency-Key": "tab\there"},
               {"Authorization": "Bearer csk_" + "a" * 10_000},
               {"Authorization": "Bearer " + "\u00e9" * 100},
               {"Authorization": "Bearer csk_\x00_" + "a" * 64},
               {"Authorization": "Bearer csk_abcd1234_\x00"},
               {"X-Request-Id": "r" * 10_000}, {"Accept-Language": "de;q=" + "9" * 5000},
               {"Sec-GPC": "1" * 10_000},
               {"Content-Type": "application/json; charset=" + "x" * 5000}]
    for method, path in every_route(app):
        url = concrete(path)
        body = VALID_BODIES.get((method, path))
        for extra in hostile:
            headers = {**admin, "Content-Type": "application/json", **extra}
            r = client.open(url, method=method, headers=headers,
                            **({"data": json.dumps(body)} if body else {}))
            assert r.status_code < 500, (method, path, list(extra)[0], r.get_data()[:200])
            if r.status_code >= 400:
                assert_refused(r, (method, path, list(extra)[0]), html_routes, path)
            if "Idempotency-Key" in extra and (method, path) in idempotent:
                assert r.status_code == 422, (method, path)
            if "Authorization" in extra and path.startswith("/v1/"):
                assert r.status_code == 401, (method, path)
    assert client.get("/healthz").status_code == 200


def test_a_trailing_newline_never_passes_an_id_or_version_rule(app, client, admin, spec,
                                                               known_ids):
    # `$` matches before a final newline, so `re.match("^...$")` let "v1\n" through: every
    # field the document gives a pattern refuses its valid value with "\n" appended.
    checked = []
    for method, path in sorted(VALID_BODIES):
        schema = body_schema(spec, method, path)
        for name, prop in schema.get("properties", {}).items():
            value = VALID_BODIES[method, path].get(name)
            if "pattern" not in resolve(spec, prop) or not isinstance(value, str):
                continue
            r = client.open(concrete(path, **known_ids), method=method, headers=admin,
                            json={**VALID_BODIES[method, path], name: value + "\n"})
            error = assert_envelope_4xx(r, (method, path, name))
            assert r.status_code == 422 and name in error["fields"], (method, path, name)
            checked.append((path, name))
    assert {("/v1/notices/{notice_id}", "version"), ("/v1/notices/{notice_id}", "sha256"),
            ("/v1/decisions", "subject_id")} <= set(checked)
    recipe = VALID_BODIES["PUT", "/v1/recipes/{recipe_id}"]
    for path in ("/v1/recipes/r-1%0A", "/v1/notices/n-1%0A", f"/v1/subjects/{SUBJECT}%0A/consents"):
        r = client.put(path, headers=admin, json=recipe if "recipes" in path else
                       VALID_BODIES["PUT", "/v1/notices/{notice_id}"] if "notices" in path
                       else VALID_BODIES["PUT", "/v1/subjects/{subject_id}/consents"])
        assert r.status_code == 422, (path, r.get_json())
    assert client.get("/v1/recipes/r-1%0A", headers=admin).status_code in (404, 422)


@pytest.mark.parametrize("bad, why", [
    (b"h-3,2024-01-03T00:00:00Z,EU,old\x00cmp,marketing,granted\n", "holds a NUL character"),
    (b"h-3,2024-01-03T00:00:00Z,EU,old\xffcmp,marketing,granted\n", "not UTF-8 text"),
    (b"h-3,2024-01-03T00:00:00Z,EU,\xed\xa0\x80,marketing,granted\n", "not UTF-8 text"),
])
def test_a_csv_import_names_a_line_that_is_not_text_and_keeps_the_good_ones(
        runner, client, admin, tmp_path, bad, why):
    header = b"subject_id,recorded_at,jurisdiction,source,purpose,status\n"
    good = [f"h-{i},2024-01-0{i}T00:00:00Z,EU,old_cmp,marketing,granted\n".encode()
            for i in (1, 2)]
    path = tmp_path / "old.csv"
    path.write_bytes(header + good[0] + good[1] + bad + good[0])
    result = runner.invoke(args=["consents", "import", str(path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert f"line 4: {why}" in result.output and "Traceback" not in result.output
    assert "imported 2 records" in result.output  # the lines before it are kept
    for subject in ("h-1", "h-2"):
        state = client.get(f"/v1/subjects/{subject}/consents/history", headers=admin)
        assert len(state.get_json()["events"]) == 1


def test_a_csv_import_reads_a_byte_order_mark_as_excel_writes_it(runner, client, admin,
                                                                 tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfsubject_id,recorded_at,jurisdiction,source,purpose,status\r\n"
                     b"bom-1,2024-01-01T00:00:00Z,EU,old_cmp,marketing,granted\r\n")
    result = runner.invoke(args=["consents", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported 1 records" in result.output
    history = client.get("/v1/subjects/bom-1/consents/history", headers=admin).get_json()
    assert [e["purpose"] for e in history["events"]] == ["marketing"]


def test_a_stale_or_future_tc_string_is_refused_on_its_field(client, admin):
    from tests.consent.iab.strings import tc

    write = VALID_BODIES["PUT", "/v1/subjects/{subject_id}/consents"]
    for text in (tc("all_purposes", last_updated=datetime(1970, 1, 2, tzinfo=UTC)),
                 tc("all_purposes", policy_version=2),
                 tc("all_purposes", last_updated=datetime(2999, 1, 1, tzinfo=UTC))):
        r = client.put(f"/v1/subjects/{SUBJECT}/consents", headers=admin,
                       json={**write, "jurisdiction": "EU", "tcf": {"tc_string": text}})
        error = assert_envelope_4xx(r, text)
        assert r.status_code == 422 and list(error["fields"]) == ["tcf.tc_string"]
    history = client.get(f"/v1/subjects/{SUBJECT}/consents/history", headers=admin)
    assert history.get_json()["events"] == []


def test_a_gpp_string_of_thousands_of_sections_costs_its_own_size(app, client, admin):
    # header: type 3, version 1, one range entry, sections 9..4008 (Fibonacci-coded)
    def fibonacci(n):
        fibs = [1, 2]
        while fibs[-1] <= n:
            fibs.append(fibs[-1] + fibs[-2])
        bits = ["0"] * len(fibs)
        for i in range(len(fibs) - 1, -1, -1):
            if fibs[i] <= n:
                bits[i], n = "1", n - fibs[i]
        return "".join(bits).rstrip("0") + "1"

    bits = "000011" + "000001" + format(1, "012b") + "1" + fibonacci(9) + fibonacci(3999)
    bits += "0" * (-len(bits) % 6)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    text = "".join(alphabet[int(bits[i:i + 6], 2)] for i in range(0, len(bits), 6))
    text += "~A" * 4000
    write = VALID_BODIES["PUT", "/v1/subjects/{subject_id}/consents"]
    r = client.put(f"/v1/subjects/{SUBJECT}/consents", headers=admin,
                   json={**write, "gpp": {"gpp_string": text}})
    assert r.status_code == 200, r.get_json()
    receipt = client.get(f"/v1/subjects/{SUBJECT}/receipts/{r.get_json()['receipt']['receipt_id']}",
                         headers=admin)
    assert len(receipt.get_data()) < len(text) + 8_000
