"""Canonical JSON is RFC 8785 (JCS), checked against an independent implementation
(the `rfc8785` package), both ways it may be written (orjson, when installed, and the
standard library alone, as a client without orjson has it), and docs/signing.md's worked
example verifies as it says."""

import json
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import rfc8785
from consentry_client import canonical as client_canonical
from consentry_client import verify_receipt
from consentry_client.signing import SignatureError
from hypothesis import given, settings
from hypothesis import strategies as st

from consentry.canonical import canonical_json

DOC = Path(__file__).resolve().parents[2] / "docs" / "signing.md"

# Every code point but lone surrogates: the BMP both sides of U+E000, and astral planes.
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
astral = st.text(alphabet=st.characters(min_codepoint=0xE000, max_codepoint=0x1F64F,
                                        blacklist_categories=("Cs",)), min_size=1, max_size=4)
names = text | astral
leaf = (st.none() | st.booleans() | st.integers(-(2**53 - 1), 2**53 - 1) | text | astral)
documents = st.recursive(
    leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=6),
    max_leaves=30)


@contextmanager
def standard_library_only():
    """canonical_json as a client without orjson runs it."""
    saved, client_canonical._orjson = client_canonical._orjson, None
    try:
        yield
    finally:
        client_canonical._orjson = saved


def test_the_service_has_the_accelerator():
    assert client_canonical._orjson is not None  # else the tests below test one path twice


def encode_both_ways(document) -> bytes:
    """The document's canonical bytes, after checking both ways of writing them agree."""
    fast = canonical_json(document)
    with standard_library_only():
        assert canonical_json(document) == fast
    return fast


@settings(max_examples=1500, deadline=None)
@given(documents)
def test_canonical_json_is_byte_for_byte_rfc_8785(document):
    assert encode_both_ways(document) == rfc8785.dumps(document)


@pytest.mark.parametrize("document", [
    {"\U0001f600": 1, "\ufb01": 2, "\u20ac": 3, "\x80": 4, "1": 5, "\ue000": 6, "\uffff": 7},
    {"größe": "Straße", "Ärger": ["ä", "ö", "ü", "ß", "€", "„“", "—"], "a\u2028b": "\u2029"},
    {"ctl": "\x00\x01\x08\t\n\x0b\x0c\r\x1f\x7f\"\\/", "emoji": "\U0001f44d\U0001f3fd"},
    {"n": [0, -0, 1, -1, 2**53 - 1, -(2**53 - 1)], "t": True, "f": False, "z": None},
    {"𝄞": {"\U00010000": {"\uffff": []}}},
])
def test_hard_cases_match_rfc_8785(document):
    assert encode_both_ways(document) == rfc8785.dumps(document)


def test_utf16_order_is_not_code_point_order():
    # RFC 8785 §3.2.3's own point: U+1F600 is D83D DE00 in UTF-16, before U+FB01.
    assert canonical_json({"\ufb01": 1, "\U0001f600": 2}).decode() == '{"😀":2,"ﬁ":1}'


@pytest.mark.parametrize("value", [
    1.5, 0.0, float("nan"), {"a": 1.0}, [2**53], {"a": -(2**53)}, 2**63,
    "\ud800", {"\udfff": 1}, {1: "a"}, {"a": {1, 2}}, b"bytes",
])
def test_what_jcs_cannot_carry_is_refused(value):
    with pytest.raises((TypeError, ValueError)):
        canonical_json(value)
    with standard_library_only(), pytest.raises((TypeError, ValueError)):
        canonical_json(value)


def _doc_blocks() -> dict[str, str]:
    """The fenced blocks of docs/signing.md's worked example, by the file they show."""
    doc = DOC.read_text(encoding="utf-8")
    example = doc[doc.index("### A worked example"):doc.index("## Tokens")]
    blocks = re.findall(r"```(\w+)\n(.*?)```", example, re.S)
    found = {"receipt.json": blocks[0][1], "jwks.json": blocks[1][1], "jcs": blocks[2][1],
             "snippet": blocks[3][1]}
    assert [b[0] for b in blocks] == ["json", "json", "text", "python"]
    return found


def test_the_worked_example_verifies_with_the_documented_snippet(tmp_path):
    blocks = _doc_blocks()
    receipt = json.loads(blocks["receipt.json"])
    body = {k: v for k, v in receipt.items() if k != "signature"}
    shown = blocks["jcs"].rstrip("\n").encode("utf-8")
    assert shown == rfc8785.dumps(body) == canonical_json(body)
    assert "Köln" in shown.decode() and b"\xc3\xb6" in shown and b"\xe2\x80\x9e" in shown
    (tmp_path / "receipt.json").write_text(blocks["receipt.json"], encoding="utf-8")
    (tmp_path / "jwks.json").write_text(blocks["jwks.json"], encoding="utf-8")
    run = subprocess.run([sys.executable, "-c", blocks["snippet"]], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout == "signature verifies\n", run.stderr
    # the client agrees; one changed letter, and neither does
    jwks = json.loads(blocks["jwks.json"])
    assert verify_receipt(receipt, jwks) == body
    (tmp_path / "receipt.json").write_text(blocks["receipt.json"].replace("Köln", "Koln"),
                                           encoding="utf-8")
    forged = subprocess.run([sys.executable, "-c", blocks["snippet"]], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert forged.returncode != 0 and "InvalidSignature" in forged.stderr
    with pytest.raises(SignatureError):
        verify_receipt({**receipt, "notice": receipt["notice"].replace("Köln", "Koln")}, jwks)


def test_the_example_key_is_the_one_the_doc_names():
    """The example is reproducible: the documented seed signs exactly the shown value."""
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from consentry.signing import public_jwk, sign_document

    blocks = _doc_blocks()
    receipt = json.loads(blocks["receipt.json"])
    key = Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(b"consentry docs example key").digest())
    body = {k: v for k, v in receipt.items() if k != "signature"}
    assert sign_document(key, "example-2026", body) == receipt["signature"]
    assert json.loads(blocks["jwks.json"])["keys"] == [public_jwk(key.public_key(),
                                                                  "example-2026")]


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(names, documents, max_size=6), documents, documents)
def test_shared_parts_encode_the_same_bytes(rest, first, second):
    """A batch's shared members, encoded once and spliced in, give the bytes of the
    whole document encoded at once (RFC 8785's), for every document that shares them."""
    parts = client_canonical.SharedParts(("shared", "other"))
    for own in (rest, {**rest, "n": 1}):
        document = {**own, "shared": first, "other": second}
        assert parts.canonical_json(document) == rfc8785.dumps(document)
        assert parts.canonical_json(document) == canonical_json(document)
