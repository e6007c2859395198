"""consentry.canonical refuses a float anywhere and a key that is not a string, and
encodes everything else as before (the check walks without recursion)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentry.canonical import canonical_json

# Below U+D800 code point order is UTF-16 order, and these integers are JCS numbers, so
# everything that is not refused must encode as json.dumps with sorted keys does
# (tests/consentry/test_jcs.py holds the rest of RFC 8785 to the rfc8785 package).
TEXT = st.text(st.characters(max_codepoint=0xD7FF), max_size=4)
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-(2**53 - 1), 2**53 - 1), TEXT,
                   st.floats(allow_nan=False))
DOCUMENTS = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.one_of(TEXT, st.integers(0, 3)), inner, max_size=4)),
    max_leaves=30)


def has_float_or_bad_key(value) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(not isinstance(k, str) or has_float_or_bad_key(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_float_or_bad_key(v) for v in value)
    return False


@settings(max_examples=400, deadline=None)
@given(DOCUMENTS)
def test_a_float_or_a_non_string_key_anywhere_is_refused(value):
    if has_float_or_bad_key(value):
        with pytest.raises(TypeError):
            canonical_json(value)
    else:
        assert canonical_json(value) == json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_deep_documents_and_float_subclasses():
    deep = [[[{"a": [(1, {"b": 2.5})]}]]]
    with pytest.raises(TypeError, match="floats"):
        canonical_json(deep)

    class Money(float):
        pass

    with pytest.raises(TypeError):
        canonical_json({"price": Money(1)})
    with pytest.raises(TypeError, match="keys"):
        canonical_json({"a": {1: "x"}})
    # deeper than orjson nests (255): written by the standard library instead, the same way
    nested: list = [{"k": 1}]
    for _ in range(300):
        nested = [nested]
    assert canonical_json(nested) == json.dumps(nested, separators=(",", ":")).encode()


def test_a_cycle_is_refused_rather_than_chased():
    loop: list = []
    loop.append(loop)
    with pytest.raises((TypeError, ValueError)):
        canonical_json(loop)
