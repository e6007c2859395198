"""An outsider verifies a bundle with their own code, written only from docs/audit.md
("Checking a bundle with your own code"): nothing here imports Consentry's verifier,
Merkle code or canonical JSON; the JCS library is the independent `rfc8785`."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile

import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.audit.helpers import make_bundle


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def tree_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = largest_power_of_two_below(len(leaves))
    return node(tree_root(leaves[:k]), tree_root(leaves[k:]))


def root_from_audit_path(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    """Top down: the last element of the bottom-up path is the sibling at the root."""
    if size == 1:
        assert not path, "path too long"
        return leaf
    assert path, "path too short"
    k = largest_power_of_two_below(size)
    if index < k:
        return node(root_from_audit_path(index, k, leaf, path[:-1]), path[-1])
    return node(path[-1], root_from_audit_path(index - k, size - k, leaf, path[:-1]))


def check_consistency(old_size: int, new_size: int, old_root: bytes, proof: list[bytes]):
    """The new root a consistency proof (SUBPROOF order, deepest first) implies, having
    checked it implies `old_root` too."""
    rest = list(proof)

    def sub(m: int, n: int, complete: bool) -> tuple[bytes, bytes]:
        if m == n:
            if complete:
                return old_root, old_root
            h = rest.pop()
            return h, h
        k = largest_power_of_two_below(n)
        if m <= k:
            right = rest.pop()
            old, new = sub(m, k, complete)
            return old, node(new, right)
        left = rest.pop()
        old, new = sub(m - k, n - k, False)
        return node(left, old), node(left, new)

    old, new = sub(old_size, new_size, True)
    assert not rest and old == old_root
    return new


def verify_ed25519(x: bytes, signature: bytes, message: bytes) -> None:
    Ed25519PublicKey.from_public_bytes(x).verify(signature, message)


def verify_note(note: bytes, jwks: dict) -> tuple[str, int, bytes]:
    """Origin, size and root of a checkpoint note signed by a published key."""
    text_end = note.rindex(b"\n\n") + 1
    text, signatures = note[:text_end], note[text_end + 1:].decode().splitlines()
    origin, size, root_b64 = text.decode().split("\n")[:3]
    keys = {sha256(origin.encode() + b"\n\x01" + b64url(k["x"]))[:4]: b64url(k["x"])
            for k in jwks["keys"]}
    verified = 0
    for line in signatures:
        dash, name, blob = line.split(" ")
        assert dash == "\u2014"
        raw = base64.b64decode(blob)
        if name == origin and raw[:4] in keys:
            verify_ed25519(keys[raw[:4]], raw[4:], text)
            verified += 1
    assert verified, "no signature by a published key"
    return origin, int(size), base64.b64decode(root_b64)


def outsider_verifies(path, jwks: dict) -> dict:
    """Everything docs/audit.md says to check; returns what was learned."""
    z = zipfile.ZipFile(path)
    files = {name: z.read(name) for name in z.namelist()}
    keys = {k["kid"]: b64url(k["x"]) for k in jwks["keys"]}
    manifest = json.loads(files["manifest.json"])
    signature = json.loads(files["manifest.sig"])
    assert signature["alg"] == "EdDSA"
    verify_ed25519(keys[signature["kid"]], b64url(signature["value"]), rfc8785.dumps(manifest))
    assert set(files) == set(manifest["files"]) | {"manifest.json", "manifest.sig"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name

    statement = json.loads(files["checkpoint.json"])
    cp = statement["checkpoint"]
    verify_ed25519(keys[statement["signature"]["kid"]], b64url(statement["signature"]["value"]),
                   rfc8785.dumps(cp))
    size, root = manifest["tree_size"], bytes.fromhex(manifest["root_hash"])
    assert (cp["tree_size"], cp["root_hash"]) == (size, manifest["root_hash"])
    origin, note_size, note_root = verify_note(files["checkpoint.note"], jwks)
    assert (note_size, note_root) == (size, root)
    assert origin == manifest["log_origin"] == jwks["log_origin"]

    lines = files["entries.jsonl"].split(b"\n")
    assert lines[-1] == b""
    hashes = {}
    prev = manifest["range"]["first_prev_hash"]
    for line in lines[:-1]:
        entry = json.loads(line)
        assert rfc8785.dumps(entry) == line  # each line is the JCS text of its entry
        hashes[entry["seq"]] = hashlib.sha256(line).hexdigest()
        if manifest["filter"] is None:
            assert entry["prev_hash"] == prev
            prev = hashes[entry["seq"]]
    if manifest["filter"] is None and hashes:
        assert prev == manifest["range"]["last_entry_hash"]

    proven = []
    for line in files["inclusion.jsonl"].split(b"\n")[:-1]:
        item = json.loads(line)
        leaf = sha256(b"\x00" + bytes.fromhex(hashes[item["seq"]]))
        path = [bytes.fromhex(h) for h in item["proof"]]
        assert root_from_audit_path(item["seq"] - 1, size, leaf, path) == root
        proven.append(item["seq"])

    learned = {"origin": origin, "size": size, "proven": proven, "entries": len(hashes)}
    if manifest["range"]["first_seq"] == 1 and manifest["filter"] is None:
        leaves = [sha256(b"\x00" + bytes.fromhex(hashes[s])) for s in sorted(hashes)]
        assert tree_root(leaves) == root  # the whole log, recomputed
    if "consistency.json" in files:
        previous = json.loads(files["previous_checkpoint.json"])["checkpoint"]
        consistency = json.loads(files["consistency.json"])
        assert consistency["from_size"] == previous["tree_size"]
        assert consistency["to_size"] == size
        _, old_size, old_root = verify_note(files["previous_checkpoint.note"], jwks)
        assert (old_size, old_root.hex()) == (previous["tree_size"], previous["root_hash"])
        assert check_consistency(old_size, size, old_root,
                                 [bytes.fromhex(h) for h in consistency["proof"]]) == root
        learned["consistent_from"] = old_size
    return learned


def test_an_outsider_verifies_bundles_from_the_docs_alone(app, append, tmp_path):
    jwks = app.test_client().get("/.well-known/consentry-keys").get_json()
    append(5, subject_id="u-1")
    append(6)
    first = make_bundle(app, tmp_path / "first.zip")
    learned = outsider_verifies(first, jwks)
    start = learned["size"] - 11  # entries the app wrote itself (the policy it loaded)
    assert learned["proven"] == [learned["size"]] and learned["entries"] == learned["size"]
    assert learned["origin"].startswith("127.0.0.1:8000/audit/")  # the default public URL
    append(4, subject_id="u-1")
    append(2)
    filtered = make_bundle(app, tmp_path / "filtered.zip", subject_id="u-1")
    learned = outsider_verifies(filtered, jwks)
    # 11 + the first export's audit entry + 6 more; each of u-1's 9 entries proven
    assert learned["size"] == start + 18 and len(learned["proven"]) == 9
    assert learned["consistent_from"] == start + 11
    whole = make_bundle(app, tmp_path / "whole.zip")
    assert outsider_verifies(whole, jwks)["consistent_from"] == start + 18


def test_the_outsider_code_catches_a_forged_note(app, append, tmp_path):
    """The second implementation is not a rubber stamp: a note for another root fails."""
    jwks = app.test_client().get("/.well-known/consentry-keys").get_json()
    append(3)
    bundle = make_bundle(app, tmp_path / "b.zip")
    note = zipfile.ZipFile(bundle).read("checkpoint.note")
    text, signature = note.rsplit(b"\n\n", 1)
    lines = text.split(b"\n")
    lines[2] = base64.b64encode(sha256(b"another root"))
    with pytest.raises(InvalidSignature):
        verify_note(b"\n".join(lines) + b"\n\n" + signature, jwks)


def test_the_origin_is_the_deployments(make_app):
    """Two deployments behind one URL never share an origin; a deployment's is stable."""
    jwks = make_app(PUBLIC_URL="https://consent.example.com/eu").test_client().get(
        "/.well-known/consentry-keys").get_json()
    origin = jwks["log_origin"]
    assert origin.startswith("consent.example.com/eu/audit/") and len(origin.split("/")[-1]) == 16
    assert jwks["note_verifiers"][0].startswith(origin + "+")
    again = make_app(PUBLIC_URL="https://consent.example.com/eu").test_client().get(
        "/.well-known/consentry-keys").get_json()
    assert again["log_origin"] == origin
