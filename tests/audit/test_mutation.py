"""Random tampering: every kind, a thousand times each, is caught and named correctly."""

from __future__ import annotations

import json
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.verify import Source, verify_source
from consentry.canonical import canonical_json
from consentry.signing import sign_document
from tests.audit.helpers import make_bundle, published_keys, read_files

ROUNDS = 1000
ENTRY_KINDS = ("modified", "removed", "inserted", "duplicated", "reordered", "truncated")


@pytest.fixture
def bundles(app, append, tmp_path):
    """An unfiltered and a filtered bundle, and the published keys."""
    for i in range(12):
        append(2, action=f"consent.recorded.{i % 3}", subject_id=f"u-{i % 4}",
               personal={"note": f"call {i}"} if i % 5 == 0 else None, text="é ✓ \"quoted\"")
    full = read_files(make_bundle(app, tmp_path / "full.zip"))
    filtered = read_files(make_bundle(app, tmp_path / "filtered.zip", subject_id="u-1"))
    return full, filtered, published_keys(app)


def _lines(files):
    return files["entries.jsonl"].splitlines(keepends=True)


def _seq(line: bytes) -> int:
    return json.loads(line)["seq"]


def tamper(kind: str, files: dict[str, bytes], rng: random.Random):
    """Apply one tampering of `kind`; return the files and the seq it should be named by."""
    files = dict(files)
    lines = _lines(files)
    n = len(lines)
    seq = None
    if kind == "modified":
        i = rng.randrange(n)
        seq = _seq(lines[i])
        doc = json.loads(lines[i])
        how = rng.choice(["field", "byte", "prev"])
        if how == "field":
            key = rng.choice(["actor", "action", "ts", "details", "subject_ref"])
            doc[key] = {"forged": rng.random().hex()} if key == "details" else "forged"
            lines[i] = canonical_json(doc) + b"\n"
        elif how == "prev":
            doc["prev_hash"] = rng.randbytes(32).hex()
            lines[i] = canonical_json(doc) + b"\n"
        else:
            raw = bytearray(lines[i][:-1])
            j = rng.randrange(len(raw))
            raw[j] = rng.choice([c for c in b"abcdefXYZ0123456789{}[]:,\"" if c != raw[j]])
            lines[i] = bytes(raw) + b"\n"
    elif kind == "removed":
        i = rng.randrange(n - 1)  # removing the last one is truncation
        seq = _seq(lines.pop(i))
    elif kind == "inserted":
        doc = json.loads(lines[rng.randrange(n)])
        doc["action"] = "forged"
        if rng.random() < 0.3:
            doc["seq"] = rng.randrange(1, 10_000)
        fake = canonical_json(doc) + b"\n" if rng.random() < 0.9 else b"not an entry\n"
        lines.insert(rng.randrange(n + 1), fake)
    elif kind == "duplicated":
        i = rng.randrange(n)
        seq = _seq(lines[i])
        lines.insert(rng.randrange(n + 1), lines[i])
    elif kind == "reordered":
        i, j = rng.sample(range(n), 2)
        if rng.random() < 0.5:
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines.insert(j, lines.pop(i))
            if lines == _lines(files):  # moving to where it was is no tampering
                lines[0], lines[1] = lines[1], lines[0]
    elif kind == "truncated":
        data = files["entries.jsonl"]
        files["entries.jsonl"] = data[:rng.randrange(len(data) - 1)]
        return files, None
    files["entries.jsonl"] = b"".join(lines)
    return files, seq


def resign(files: dict[str, bytes], rng: random.Random, known_key: bool):
    """Alter the manifest and sign it again: with no key (bad) or a stranger's key (unknown)."""
    files = dict(files)
    manifest = json.loads(files["manifest.json"])
    signature = json.loads(files["manifest.sig"])
    if known_key:
        how = rng.choice(["reason", "exporter", "created_at", "sig"])
        if how == "sig":
            value = bytearray(signature["value"].encode())
            k = rng.randrange(len(value))
            value[k] = ord("A") if value[k] != ord("A") else ord("B")
            signature["value"] = value.decode()
        else:
            manifest[how] = f"forged {rng.random()}"
    else:
        manifest["reason"] = "forged"
        signature = sign_document(Ed25519PrivateKey.generate(), f"forged-{rng.randrange(99)}",
                                  manifest)
    files["manifest.json"] = json.dumps(manifest).encode()
    files["manifest.sig"] = json.dumps(signature).encode()
    return files


@pytest.mark.parametrize("which", ["full", "filtered"])
def test_every_kind_of_tampering_is_detected_and_named(bundles, which):
    full, filtered, keys = bundles
    original = full if which == "full" else filtered
    assert verify_source(Source(original), keys).exit_code == 0
    rng = random.Random(f"consentry-{which}")
    rounds = ROUNDS if which == "full" else ROUNDS // 4
    caught = {kind: 0 for kind in (*ENTRY_KINDS, "bad signature", "unknown key")}
    for kind in caught:
        for _ in range(rounds):
            if kind in ENTRY_KINDS:
                files, seq = tamper(kind, original, rng)
            else:
                files, seq = resign(original, rng, kind == "bad signature"), None
            report = verify_source(Source(files), keys)
            assert report.exit_code == 1, (kind, files["entries.jsonl"])
            assert report.kinds() == {kind}, (kind, [str(f) for f in report.findings])
            if seq is not None:
                assert seq in {f.seq for f in report.findings}, (kind, seq, report.findings)
            caught[kind] += 1
    assert all(count == rounds for count in caught.values())


@pytest.mark.parametrize("change, kind, where", [
    (lambda f: f.update({"entries.csv": f["entries.csv"] + b"1,2,3\r\n"}), "modified",
     "entries.csv"),
    (lambda f: f.update({"checkpoint.json": f["checkpoint.json"].replace(b'"tree_size": ',
                                                                          b'"tree_size": 1')}),
     "modified", "checkpoint.json"),
    (lambda f: f.pop("inclusion.jsonl"), "removed", "inclusion.jsonl"),
    (lambda f: f.pop("entries.csv"), "removed", "entries.csv"),
    (lambda f: f.update({"extra.txt": b"hello"}), "inserted", "extra.txt"),
    (lambda f: f.pop("manifest.sig"), "bad signature", "manifest.json"),
])
def test_damage_to_the_other_files_is_named(bundles, change, kind, where):
    full, _filtered, keys = bundles
    files = dict(full)
    change(files)
    report = verify_source(Source(files), keys)
    assert report.exit_code == 1
    assert (kind, where) in {(f.kind, f.where) for f in report.findings}, report.findings


def test_unusable_input_is_exit_2(bundles):
    full, _filtered, keys = bundles
    files = dict(full)
    del files["manifest.json"]
    from audit.verify import Unusable

    with pytest.raises(Unusable):
        verify_source(Source(files), keys)


def test_a_log_cut_short_is_one_finding_not_one_per_entry(bundles):
    full, _filtered, keys = bundles
    files = dict(full)
    files["entries.jsonl"] = b"".join(_lines(full)[:3])
    report = verify_source(Source(files), keys)
    assert [f.kind for f in report.findings] == ["truncated"]
    assert report.findings[0].where.startswith("entries seq 4-")
