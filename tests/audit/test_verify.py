"""The offline verifier on real bundles: intact, shredded, rotated keys, the CLI and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from audit import merkle
from audit.service import destroy_subject_key
from audit.verify import Limits, main, verify_bundle
from consentry.db import get_db
from consentry.secretstore import get_keys
from consentry.signing import keys_by_kid, verify_document
from tests.audit.helpers import (
    make_bundle,
    published_keys,
    read_files,
    write_bomb,
    write_files,
    write_members,
)


def test_untouched_bundle_verifies_on_this_engine(app, append, tmp_path):
    append(25, subject_id="u-1", personal={"note": "called about order 1"})
    append(5, action="decision.violation", subject_id="u-2")
    bundle = make_bundle(app, tmp_path / "b.zip")
    report = verify_bundle(str(bundle), published_keys(app))
    assert report.exit_code == 0, report.findings
    assert report.count == 31 and report.shredded == []


def test_filtered_bundle_proves_every_entry(app, append, tmp_path):
    append(6, subject_id="u-1")
    append(9, subject_id="u-2")
    append(3, subject_id="u-1", action="consent.withdrawn")
    bundle = make_bundle(app, tmp_path / "b.zip", subject_id="u-1")
    files = read_files(bundle)
    manifest = json.loads(files["manifest.json"])
    proofs = [json.loads(line) for line in files["inclusion.jsonl"].splitlines()]
    assert manifest["count"] == 9 and len(proofs) == 9
    assert verify_bundle(str(bundle), published_keys(app)).exit_code == 0
    action_only = make_bundle(app, tmp_path / "a.zip", action="consent.withdrawn")
    assert json.loads(read_files(action_only)["manifest.json"])["count"] == 3
    assert verify_bundle(str(action_only), published_keys(app)).exit_code == 0


def test_shredded_subjects_still_verify_and_are_reported(app, append, tmp_path):
    append(4, subject_id="u-gone", personal={"ip": "203.0.113.9"})
    append(3, subject_id="u-kept", personal={"ip": "198.51.100.1"})
    with app.app_context(), get_db(app).transaction() as s:
        assert destroy_subject_key(s, get_keys(), "u-gone")
    append(1, subject_id="u-gone", personal={"ip": "203.0.113.9"})  # after erasure: not sealed
    bundle = make_bundle(app, tmp_path / "b.zip")
    report = verify_bundle(str(bundle), published_keys(app))
    assert report.exit_code == 0, report.findings
    assert len(report.shredded) == 5
    csv_text = read_files(bundle)["entries.csv"].decode()
    assert "203.0.113.9" not in csv_text and csv_text.count("[shredded]") == 5
    assert "198.51.100.1" in csv_text


def test_shredded_entries_show_in_the_api(client, make_key, append, app):
    append(2, subject_id="u-gone", personal={"ip": "203.0.113.9"})
    with app.app_context(), get_db(app).transaction() as s:
        destroy_subject_key(s, get_keys(), "u-gone")
    r = client.get("/v1/audit/entries?subject_id=u-gone", headers=make_key("audit:read"))
    entries = r.get_json()["entries"]
    assert len(entries) == 2 and all(e["shredded"] and e["personal"] is None for e in entries)


def test_checkpoints_across_a_key_rotation_verify_with_the_published_keys(
        make_app, tmp_path, client):
    app = make_app(SECRETS_DIR=str(tmp_path / "secrets"),
                   AUDIT_EXPORT_DIR=str(tmp_path / "exports"),
                   KEY_RELOAD_SECONDS=0)  # one process: the new key may sign at once
    from audit.service import append_entry

    def append(n):
        with app.app_context(), get_db(app).transaction() as s:
            for i in range(n):
                append_entry(s, get_keys(), "test.event", details={"i": i})

    append(5)
    first = make_bundle(app, tmp_path / "first.zip")
    old_kid = app.extensions["consentry.secrets"].active_kid
    new_kid = app.extensions["consentry.secrets"].rotate_signing_key()
    assert new_kid != old_kid
    append(7)
    second = make_bundle(app, tmp_path / "second.zip")
    published = app.test_client().get("/.well-known/consentry-keys").get_json()
    keys = keys_by_kid(published)
    assert {old_kid, new_kid} <= set(keys)
    old_cp = json.loads(read_files(first)["checkpoint.json"])
    new_cp = json.loads(read_files(second)["checkpoint.json"])
    assert old_cp["signature"]["kid"] == old_kid and new_cp["signature"]["kid"] == new_kid
    for cp in (old_cp, new_cp):
        verify_document(keys, cp["checkpoint"], cp["signature"])
    prev = tmp_path / "prev.json"
    prev.write_bytes(read_files(first)["checkpoint.json"])
    report = verify_bundle(str(second), keys, json.loads(prev.read_bytes()))
    assert report.exit_code == 0, report.findings
    assert any("consistent with the checkpoint" in n for n in report.notes)
    assert verify_bundle(str(first), keys).exit_code == 0
    # the listing shows both, each verifiable
    from consentry import auth

    with app.app_context(), get_db(app).transaction() as s:
        key = auth.create_key(s, "rot-reader", ["audit:read"])
    listed = app.test_client().get("/v1/audit/checkpoints",
                                   headers={"Authorization": f"Bearer {key}"}).get_json()
    kids = {c["kid"] for c in listed["checkpoints"]}
    assert {old_kid, new_kid} <= kids
    for c in listed["checkpoints"]:
        verify_document(keys, c["checkpoint"], c["signature"])


def test_a_rewritten_history_fails_the_consistency_check(app, append, tmp_path):
    append(4)
    first = make_bundle(app, tmp_path / "first.zip")
    append(3)
    second = make_bundle(app, tmp_path / "second.zip")
    files = read_files(second)
    forged = json.loads(files["consistency.json"])
    forged["proof"] = [merkle.leaf_hash(b"forged").hex()] + forged["proof"][1:]
    files["consistency.json"] = json.dumps(forged).encode()
    report = verify_bundle(str(write_files(tmp_path / "f.zip", files)), published_keys(app))
    assert report.exit_code == 1 and "modified" in report.kinds()
    assert any(f.where == "consistency.json" for f in report.findings)
    prev = json.loads(read_files(first)["checkpoint.json"])
    assert verify_bundle(str(second), published_keys(app), prev).exit_code == 0


def test_cli_export_and_verify(runner, app, append, tmp_path):
    append(12, subject_id="u-1")
    out = tmp_path / "cli.zip"
    result = runner.invoke(args=["audit", "export", "--out", str(out), "--reason", "audit 2026",
                                 "--since", "2000-01-01"])
    assert result.exit_code == 0, result.output
    assert "wrote 13 entries" in result.output
    result = runner.invoke(args=["audit", "verify", str(out)])
    assert result.exit_code == 0 and "INTACT" in result.output
    files = read_files(out)
    lines = files["entries.jsonl"].splitlines(keepends=True)
    del lines[3]
    files["entries.jsonl"] = b"".join(lines)
    tampered = write_files(tmp_path / "t.zip", files)
    result = runner.invoke(args=["audit", "verify", str(tampered)])
    assert result.exit_code == 1 and "removed: entry seq 4" in result.output
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    result = runner.invoke(args=["audit", "verify", str(junk)])
    assert result.exit_code == 2 and "UNUSABLE" in result.output
    result = runner.invoke(args=["audit", "export", "--out", str(out), "--since", "someday"])
    assert result.exit_code == 2


def test_python_m_audit_verify_runs_without_the_service(app, append, tmp_path):
    append(3)
    bundle = make_bundle(app, tmp_path / "b.zip")
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(app.extensions["consentry.secrets"].jwks()))
    probe = ("import sys, runpy; sys.argv = ['audit.verify'] + sys.argv[1:]\n"
             "try:\n    runpy.run_module('audit.verify', run_name='__main__')\n"
             "finally:\n"
             "    heavy = [m for m in sys.modules if m.split('.')[0] in "
             "('flask', 'sqlalchemy', 'alembic', 'consent', 'retention')"
             " or m in ('audit.service', 'audit.models', 'consentry.db')]\n"
             "    assert not heavy, heavy\n")

    def run(*args):
        return subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                              text=True, timeout=60)

    ok = run(str(bundle), "--public-key", str(keys))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "INTACT" in ok.stdout
    unproven = run(str(bundle))
    assert unproven.returncode == 3 and "signer is unproven" in unproven.stdout
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"keys": []}))
    unknown = run(str(bundle), "--public-key", str(other))
    assert unknown.returncode == 1 and "unknown key" in unknown.stdout
    missing = run(str(tmp_path / "nope.zip"))
    assert missing.returncode == 2
    bad_key = tmp_path / "bad.pem"
    bad_key.write_text("garbage")
    assert run(str(bundle), "--public-key", str(bad_key)).returncode == 2


def test_an_export_with_nothing_in_it_still_verifies(app, append, tmp_path):
    append(2, subject_id="u-1")
    bundle = make_bundle(app, tmp_path / "b.zip", subject_id="nobody")
    assert json.loads(read_files(bundle)["manifest.json"])["count"] == 0
    assert verify_bundle(str(bundle), published_keys(app)).exit_code == 0
    since_future = make_bundle(app, tmp_path / "c.zip", since=datetime(2999, 1, 1, tzinfo=UTC))
    assert verify_bundle(str(since_future), published_keys(app)).exit_code == 0


def test_the_audit_api_is_in_the_openapi_document(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert {"/v1/audit/entries", "/v1/audit/checkpoints", "/v1/audit/exports",
            "/v1/audit/exports/{export_id}"} <= set(paths)


def test_the_csv_reads_back_as_the_entries(app, append, tmp_path):
    import csv
    import io

    append(3, subject_id="u-1", personal={"note": 'said "no", then\nyes'}, text='a,b "c"')
    files = read_files(make_bundle(app, tmp_path / "b.zip"))
    rows = list(csv.DictReader(io.StringIO(files["entries.csv"].decode(), newline="")))
    entries = [json.loads(line) for line in files["entries.jsonl"].splitlines()]
    assert [int(r["seq"]) for r in rows] == [e["seq"] for e in entries]
    for row, entry in zip(rows[1:], entries[1:], strict=True):
        assert json.loads(row["details"]) == {k: v for k, v in entry["details"].items()
                                              if k != "personal"}
        assert json.loads(row["personal"]) == {"note": 'said "no", then\nyes'}
        assert row["ts"] == entry["ts"] and row["action"] == entry["action"]


def test_any_older_checkpoint_is_checked_against_a_full_export(app, append, tmp_path):
    append(3)
    first = make_bundle(app, tmp_path / "first.zip")
    append(4)
    make_bundle(app, tmp_path / "second.zip")
    append(2)
    third = make_bundle(app, tmp_path / "third.zip")  # proves consistency from the second
    old = json.loads(read_files(first)["checkpoint.json"])
    report = verify_bundle(str(third), published_keys(app), old)
    assert report.exit_code == 0, report.findings
    assert any("recomputed from the entries" in n for n in report.notes)
    filtered = make_bundle(app, tmp_path / "filtered.zip", action="test.event")
    assert verify_bundle(str(filtered), published_keys(app), old).exit_code == 2


def test_a_forged_older_checkpoint_is_caught(make_app, tmp_path):
    """A checkpoint signed over a different history (a rewritten log) does not fit."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from audit.chain import checkpoint_document
    from audit.service import append_entry
    from consentry.signing import public_jwk, sign_document

    app = make_app(AUDIT_EXPORT_DIR=str(tmp_path / "exports"))
    with app.app_context(), get_db(app).transaction() as s:
        for i in range(6):
            append_entry(s, get_keys(), "test.event", details={"i": i})
    bundle = make_bundle(app, tmp_path / "b.zip")
    key = Ed25519PrivateKey.generate()
    doc = checkpoint_document(3, merkle.leaf_hash(b"other history").hex(),
                              "2026-01-01T00:00:00.000000Z")
    forged = {"checkpoint": doc, "signature": sign_document(key, "old-key", doc)}
    keys = published_keys(app) | keys_by_kid([public_jwk(key.public_key(), "old-key")])
    report = verify_bundle(str(bundle), keys, forged)
    assert report.exit_code == 1 and "modified" in report.kinds()


# --- trust: exit 0 only with a key from outside the bundle ---------------------------------

def _verify(capsys, *args) -> tuple[int, str]:
    """Run `python -m audit.verify ARGS` in-process: its exit code and what it printed."""
    code = main([str(a) for a in args])
    return code, capsys.readouterr().out


def _pem(public_key) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _forge(files: dict[str, bytes], kid: str) -> dict[str, bytes]:
    """Alter the manifest and sign the bundle again with a stranger's key, under the real
    key id, shipping the stranger's public key as keys.json: a self-consistent forgery."""
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from consentry.signing import public_jwk, sign_document, sign_note

    key = Ed25519PrivateKey.generate()
    files = dict(files)
    files["keys.json"] = json.dumps({"keys": [public_jwk(key.public_key(), kid)]}).encode()
    statement = json.loads(files["checkpoint.json"])
    statement["signature"] = sign_document(key, kid, statement["checkpoint"])
    files["checkpoint.json"] = json.dumps(statement).encode()
    text = files["checkpoint.note"].decode().rsplit("\n\n", 1)[0] + "\n"
    files["checkpoint.note"] = sign_note(key, text.split("\n")[0], text).encode()
    manifest = json.loads(files["manifest.json"])
    manifest["reason"] = "forged"
    for name in ("keys.json", "checkpoint.json", "checkpoint.note"):
        manifest["files"][name] = hashlib.sha256(files[name]).hexdigest()
    files["manifest.json"] = json.dumps(manifest).encode()
    files["manifest.sig"] = json.dumps(sign_document(key, kid, manifest)).encode()
    return files


def test_without_a_public_key_the_signer_is_unproven_and_exit_3(app, append, tmp_path, capsys):
    append(4)
    bundle = make_bundle(app, tmp_path / "b.zip")
    code, out = _verify(capsys, bundle)
    assert code == 3, out
    assert "the signer is unproven" in out and "--public-key" in out
    assert "INTACT" not in out  # nothing a script greps for "INTACT" would take as proven
    assert verify_bundle(str(bundle)).exit_code == 3


def test_the_published_key_as_pem_or_saved_jwks_proves_the_signer(app, append, tmp_path,
                                                                   capsys):
    append(4)
    bundle = make_bundle(app, tmp_path / "b.zip")
    jwks = app.test_client().get("/.well-known/consentry-keys").get_json()
    saved = tmp_path / "consentry-keys.json"
    saved.write_text(json.dumps(jwks))
    code, out = _verify(capsys, bundle, "--public-key", saved)
    assert code == 0 and "INTACT: 5 entries verified" in out, out
    pem = tmp_path / "signing.pem"
    pem.write_bytes(_pem(keys_by_kid(jwks)[jwks["active_kid"]]))
    code, out = _verify(capsys, bundle, "--public-key", pem)
    assert code == 0 and "INTACT" in out and "unproven" not in out, out


def test_a_key_that_did_not_sign_the_bundle_is_exit_1(app, append, tmp_path, capsys):
    """Given a key, a signature it does not verify is a forgery as far as anyone can tell
    offline (or the wrong key file): exit 1 naming it, never 3, which would hide it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from consentry.signing import public_jwk

    append(3)
    bundle = make_bundle(app, tmp_path / "b.zip")
    stranger = Ed25519PrivateKey.generate().public_key()
    pem = tmp_path / "other.pem"
    pem.write_bytes(_pem(stranger))
    code, out = _verify(capsys, bundle, "--public-key", pem)
    assert code == 1 and "bad signature: manifest.json" in out, out
    jwks = tmp_path / "other.json"
    jwks.write_text(json.dumps({"keys": [public_jwk(stranger, "someone-else")]}))
    code, out = _verify(capsys, bundle, "--public-key", jwks)
    assert code == 1 and "unknown key: manifest.json" in out, out


def test_a_bundle_forged_with_its_own_keys_is_never_exit_0(app, append, runner, tmp_path,
                                                           capsys):
    append(5)
    bundle = make_bundle(app, tmp_path / "b.zip")
    kid = app.extensions["consentry.secrets"].active_kid
    forged = write_files(tmp_path / "forged.zip", _forge(read_files(bundle), kid))
    code, out = _verify(capsys, forged)  # it hangs together: only a key from outside tells
    assert code == 3 and "signer is unproven" in out, out
    saved = tmp_path / "keys.json"
    saved.write_text(json.dumps(app.test_client().get("/.well-known/consentry-keys").get_json()))
    code, out = _verify(capsys, forged, "--public-key", saved)
    assert code == 1 and "bad signature: manifest.json" in out, out
    result = runner.invoke(args=["audit", "verify", str(forged)])  # the service's own keys
    assert result.exit_code == 1 and "bad signature" in result.output
    result = runner.invoke(args=["audit", "verify", str(bundle)])
    assert result.exit_code == 0 and "INTACT" in result.output


# --- the zip is hostile input ---------------------------------------------------------------

def test_a_member_name_held_twice_is_damage(app, append, tmp_path, capsys):
    """A forged first entries.csv before the real one: readers differ on which they show."""
    append(3, subject_id="u-1")
    bundle = make_bundle(app, tmp_path / "b.zip")
    files = read_files(bundle)
    forged_csv = files["entries.csv"].replace(b"test.event", b"forged.event")
    members = [("entries.csv", forged_csv), *files.items()]
    twice = write_members(tmp_path / "twice.zip", members)
    report = verify_bundle(str(twice), published_keys(app))
    assert report.exit_code == 1
    assert [(f.kind, f.where) for f in report.findings] == [("duplicated", "entries.csv")]
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(app.extensions["consentry.secrets"].jwks()))
    code, out = _verify(capsys, twice, "--public-key", keys)
    assert code == 1 and "duplicated: entries.csv (the zip holds 2 members" in out, out
    last_forged = write_members(tmp_path / "last.zip", [*files.items(), members[0]])
    kinds = {(f.kind, f.where) for f in verify_bundle(str(last_forged), published_keys(app))
             .findings}
    assert kinds == {("duplicated", "entries.csv"), ("modified", "entries.csv")}


def test_a_member_above_the_size_cap_is_refused(app, append, runner, tmp_path, capsys):
    append(30, subject_id="u-1", text="x" * 200)
    bundle = make_bundle(app, tmp_path / "b.zip")
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(app.extensions["consentry.secrets"].jwks()))
    code, out = _verify(capsys, bundle, "--public-key", keys, "--max-member-size", "4K")
    assert code == 2, out
    assert "uncompressed is more than --max-member-size 4.0 KiB: refused" in out
    assert _verify(capsys, bundle, "--public-key", keys, "--max-member-size", "1M")[0] == 0
    result = runner.invoke(args=["audit", "verify", str(bundle), "--max-member-size", "4K"])
    assert result.exit_code == 2 and "--max-member-size 4.0 KiB: refused" in result.output
    result = runner.invoke(args=["audit", "verify", str(bundle), "--max-member-size", "lots"])
    assert result.exit_code == 2 and "not a size" in result.output
    with pytest.raises(SystemExit) as exited:
        main([str(bundle), "--max-compression-ratio", "0.5"])
    # a bad command line is "could not run" (4), not a verdict on the input (2)
    assert exited.value.code == 4 and "not a ratio" in capsys.readouterr().err


def test_a_zip_bomb_is_refused_before_it_is_read(app, append, tmp_path, capsys):
    import time
    import tracemalloc

    append(3)
    bomb = write_bomb(tmp_path / "bomb.zip", read_files(make_bundle(app, tmp_path / "b.zip")),
                      "entries.jsonl", mib=64)
    tracemalloc.start()
    try:
        started = time.perf_counter()
        code, out = _verify(capsys, bomb)
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2, out
    assert "entries.jsonl: expands" in out and "refused as a zip bomb" in out
    assert seconds < 1 and peak < 4 << 20, (seconds, peak)
    code, out = _verify(capsys, bomb, "--max-compression-ratio", "1000")  # the user lifts it
    assert code == 1 and "truncated: line 1" in out, out  # read, within memory bounds


def test_a_line_too_long_to_be_an_entry_is_hashed_not_held(app, append, tmp_path):
    import tracemalloc

    append(3)
    files = read_files(make_bundle(app, tmp_path / "b.zip"))
    files["entries.jsonl"] = files["entries.jsonl"].rstrip(b"\n") + b"x" * (32 << 20)
    path = write_files(tmp_path / "long.zip", files)
    del files
    limits = Limits(ratio=float("inf"), document_bytes=1 << 20)
    tracemalloc.start()
    try:
        report = verify_bundle(str(path), published_keys(app), limits=limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.exit_code == 1 and "truncated" in report.kinds(), report.findings
    assert peak < 8 << 20, peak


def test_a_json_file_larger_than_a_bundle_holds_is_refused(app, append, tmp_path):
    import os

    append(2)
    files = read_files(make_bundle(app, tmp_path / "b.zip"))
    files["manifest.sig"] = json.dumps({"value": os.urandom(9 << 20).hex()}).encode()
    report = verify_bundle(str(write_files(tmp_path / "big.zip", files)), published_keys(app))
    assert report.exit_code == 2
    assert report.unusable.startswith("manifest.sig: more than 16.0 MiB"), report.unusable


def test_a_member_compressed_other_than_the_exporter_does_is_refused(app, append, tmp_path):
    """bzip2 and LZMA members would decompress without zipfile's output bound."""
    import zipfile

    append(2)
    files = read_files(make_bundle(app, tmp_path / "b.zip"))
    path = tmp_path / "bz.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_BZIP2) as z:
        for name, data in files.items():
            z.writestr(name, data)
    report = verify_bundle(str(path), published_keys(app))
    assert report.exit_code == 2 and "compression method 12" in report.unusable


def test_the_checkpoint_note_is_verified_and_tied_to_the_manifest(app, append, tmp_path):
    append(3)
    bundle = make_bundle(app, tmp_path / "b.zip")
    keys = published_keys(app)
    assert verify_bundle(str(bundle), keys).exit_code == 0
    files = read_files(bundle)
    text, line = files["checkpoint.note"].decode().rsplit("\n\n", 1)
    origin, size, root = text.split("\n")
    assert origin == json.loads(files["manifest.json"])["log_origin"]
    forged_root = "\n".join([origin, size, "A" * 43 + "="]) + "\n\n" + line
    report = verify_bundle(str(write_files(tmp_path / "f.zip", {
        **files, "checkpoint.note": forged_root.encode()})), keys)
    assert {(f.kind, f.where) for f in report.findings} >= {
        ("modified", "checkpoint.note"), ("bad signature", "checkpoint.note")}
    report = verify_bundle(str(write_files(tmp_path / "g.zip", {
        k: v for k, v in files.items() if k != "checkpoint.note"})), keys)
    assert ("removed", "checkpoint.note") in {(f.kind, f.where) for f in report.findings}
