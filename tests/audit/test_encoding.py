"""The exporter's fast encoder writes exactly the bytes canonical_json hashes (RFC 8785)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from audit.export import _encode
from consentry.canonical import canonical_json

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=24)
leaf = st.none() | st.booleans() | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1) | text
documents = st.recursive(
    leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=5),
    max_leaves=25)


@settings(max_examples=1000, deadline=None)
@given(documents)
def test_fast_encoder_matches_canonical_json(document):
    assert _encode(document).encode("utf-8") == canonical_json(document)


def test_controls_and_non_ascii():
    document = {"b": "\x00\x1f\x7f\u2028é😀\"\\/\n\t", "a": [1, -2, None, True], "ä": {"z": 0}}
    assert _encode(document).encode("utf-8") == canonical_json(document)


def test_names_in_utf16_order_as_rfc_8785_sorts_them():
    """U+1F600 (UTF-16 D83D DE00) sorts before U+FB01 (FB01): code point order says after."""
    document = {"\ufb01": 1, "\U0001f600": 2, "a": {"\uffff": 0, "\U00010000": 1}}
    assert _encode(document).encode("utf-8") == canonical_json(document)
    assert canonical_json(document).decode() == (
        '{"a":{"\U00010000":1,"\uffff":0},"\U0001f600":2,"\ufb01":1}')
