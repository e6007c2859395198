"""The audit API as legal uses it: entries, checkpoints, exports."""

from __future__ import annotations

import io
import zipfile

import pytest

from audit.jobs import run_export_queue
from audit.verify import verify_bundle
from consentry.signing import keys_by_kid


def _all_entries(client, headers, **params):
    seen, cursor = [], None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        r = client.get("/v1/audit/entries", query_string=query, headers=headers)
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        seen += body["entries"]
        cursor = body["next"]
        if cursor is None:
            return seen


def test_entries_are_paged_in_log_order(client, make_key, append):
    append(7, action="consent.recorded", subject_id="u-1")
    append(5, action="decision.violation", subject_id="u-2")
    headers = make_key("audit:read")
    entries = _all_entries(client, headers, limit=3)
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    assert len([e for e in entries if e["action"] in ("consent.recorded",
                                                      "decision.violation")]) == 12
    r = client.get("/v1/audit/entries?limit=3", headers=headers)
    assert len(r.get_json()["entries"]) == 3 and r.get_json()["next"]


def test_entries_filter_by_subject_and_action(client, make_key, append):
    append(3, action="consent.recorded", subject_id="u-1")
    append(2, action="consent.recorded", subject_id="u-2")
    append(4, action="decision.violation", subject_id="u-1")
    headers = make_key("audit:read")
    mine = _all_entries(client, headers, subject_id="u-1")
    assert len(mine) == 7 and len({e["subject_ref"] for e in mine}) == 1
    assert "u-1" not in str(mine)  # the subject id never appears, only its keyed reference
    both = _all_entries(client, headers, subject_id="u-1", action="decision.violation", limit=2)
    assert len(both) == 4


def test_entries_filter_by_time(client, make_key, append):
    append(2)
    headers = make_key("audit:read")
    entries = _all_entries(client, headers)
    later = _all_entries(client, headers, since="2999-01-01T00:00:00Z")
    earlier = _all_entries(client, headers, until=entries[-1]["ts"])
    assert later == [] and len(earlier) == len(entries) - 1


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=abc", "cursor=%%%",
                                   "cursor=eyJwIjogLTF9", "cursor=bm90IGpzb24",
                                   "since=yesterday", "subject_id=bad%20id"])
def test_bad_list_queries_are_422_in_the_envelope(client, make_key, query):
    r = client.get(f"/v1/audit/entries?{query}", headers=make_key("audit:read"))
    assert r.status_code == 422
    assert r.get_json()["error"]["code"] == "validation_error"
    r = client.get(f"/v1/audit/checkpoints?{query}", headers=make_key("audit:read"))
    assert r.status_code in (200, 422)


def test_audit_routes_need_their_scopes(client, make_key):
    reader, other = make_key("audit:read"), make_key("policy:read")
    assert client.get("/v1/audit/entries").status_code == 401
    assert client.get("/v1/audit/entries", headers=other).status_code == 403
    assert client.get("/v1/audit/checkpoints", headers=other).status_code == 403
    r = client.post("/v1/audit/exports", json={}, headers=reader)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    assert client.get("/v1/audit/exports/abc", headers=reader).status_code == 403


def test_every_route_declares_a_scope(app):
    from consentry.auth import OPEN_ENDPOINTS

    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith(OPEN_ENDPOINTS) or \
                rule.rule.startswith("/docs"):
            continue
        view = app.view_functions[rule.endpoint]
        cls = getattr(view, "view_class", None)
        methods = [getattr(cls, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}] \
            if cls else [view]
        for method in methods:
            assert getattr(method, "required_scope", None), rule.rule


def test_export_downloads_a_bundle_that_verifies(client, app, make_key, append):
    append(10, subject_id="u-1", personal={"ip": "203.0.113.7"})
    headers = make_key("audit:export", name="legal-team")
    r = client.post("/v1/audit/exports", json={"reason": "court order 17"}, headers=headers)
    assert r.status_code == 201, r.get_json()
    export_id = r.get_json()["export_id"]
    assert run_export_queue(app) == 1
    r = client.get(f"/v1/audit/exports/{export_id}", headers=headers)
    assert r.status_code == 200 and r.mimetype == "application/zip"
    data = r.data
    r.close()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = set(z.namelist())
        import json

        manifest = json.loads(z.read("manifest.json"))
        csv_text = z.read("entries.csv").decode()
    assert {"entries.jsonl", "entries.csv", "checkpoint.json", "manifest.json",
            "manifest.sig", "inclusion.jsonl", "keys.json"} <= names
    assert manifest["exporter"] == "legal-team" and manifest["reason"] == "court order 17"
    assert manifest["export_id"] == export_id
    assert manifest["count"] == 12 and manifest["kid"]  # policy load, our ten, the queuing
    assert "203.0.113.7" in csv_text  # readable for the auditor, sealed in the chain
    path = app.config["AUDIT_EXPORT_DIR"] + "/check.zip"
    with open(path, "wb") as f:
        f.write(data)
    keys = keys_by_kid(client.get("/.well-known/consentry-keys").get_json())
    report = verify_bundle(path, keys)
    assert report.exit_code == 0, report.findings
    assert report.count == 12
    # the export itself is in the log: who and why
    r = client.get("/v1/audit/entries?action=audit.exported", headers=make_key("audit:read"))
    assert r.get_json()["entries"][0]["details"]["reason"] == "court order 17"


@pytest.mark.parametrize("body", [{"format": "xml"}, {"since": "soon"},
                                  {"since": "2026-02-01T00:00:00Z",
                                   "until": "2026-01-01T00:00:00Z"},
                                  {"subject_id": ""}, {"reason": "x" * 501}, [1, 2]])
def test_bad_export_requests_are_422(client, make_key, body):
    r = client.post("/v1/audit/exports", json=body, headers=make_key("audit:export"))
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["code"] == "validation_error"


def test_unknown_export_is_404(client, make_key):
    r = client.get("/v1/audit/exports/nope", headers=make_key("audit:export"))
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"


def test_checkpoints_are_listed_newest_first_and_verify(client, make_key, append, app):
    from consentry.signing import verify_document

    headers = make_key("audit:export", "audit:read")
    append(3)
    assert client.post("/v1/audit/exports", json={}, headers=headers).status_code == 201
    run_export_queue(app)
    append(2)
    assert client.post("/v1/audit/exports", json={}, headers=headers).status_code == 201
    run_export_queue(app)
    r = client.get("/v1/audit/checkpoints?limit=1", headers=headers)
    body = r.get_json()
    assert r.status_code == 200 and len(body["checkpoints"]) == 1 and body["next"]
    newest = body["checkpoints"][0]
    older = client.get(f"/v1/audit/checkpoints?cursor={body['next']}",
                       headers=headers).get_json()["checkpoints"]
    assert older and older[0]["tree_size"] < newest["tree_size"]
    keys = keys_by_kid(client.get("/.well-known/consentry-keys").get_json())
    for cp in [newest, *older]:
        verify_document(keys, cp["checkpoint"], cp["signature"])


def test_bundles_are_readable_by_the_service_user_only(client, app, make_key, append, tmp_path):
    import os
    import stat
    from pathlib import Path

    append(3, subject_id="u-1", personal={"ip": "203.0.113.7"})
    old_umask = os.umask(0o022)  # a common default: files would be world-readable
    try:
        r = client.post("/v1/audit/exports", json={"reason": "check modes"},
                        headers=make_key("audit:export"))
        assert r.status_code == 201, r.get_json()
        assert run_export_queue(app) == 1  # the scheduler's job writes the bundle
        out = tmp_path / "cli" / "bundle.zip"
        result = app.test_cli_runner().invoke(args=["audit", "export", "--out", str(out)])
        assert result.exit_code == 0, result.output
    finally:
        os.umask(old_umask)
    export_dir = Path(app.config["AUDIT_EXPORT_DIR"])
    stored = list(export_dir.glob("*.zip"))
    assert len(stored) == 1
    assert stat.S_IMODE(export_dir.stat().st_mode) == 0o700
    for bundle in (stored[0], out):
        assert stat.S_IMODE(bundle.stat().st_mode) == 0o600, bundle
    assert not list(export_dir.glob(".*")) and not list(out.parent.glob(".*"))
