"""The GPP decoder against strings made by @iabgpp/cmpapi, and malformed input."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.iab import DecodeError, gpp
from tests.consent.iab.strings import STRINGS
from tests.consent.iab.strings import gpp as fixture

CASES = STRINGS["gpp"]
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_decodes_what_the_iab_library_encoded(case):
    decoded = gpp.decode(case["gpp_string"])
    assert list(decoded.section_ids) == case["decoded"]["section_ids"]
    assert {s.name for s in decoded.sections.values()} == set(case["decoded"]["sections"])
    for section in decoded.sections.values():
        want = dict(case["decoded"]["sections"][section.name])
        included = want.pop("GpcSegmentIncluded")
        want.pop("GpcSegmentType")
        gpc = want.pop("Gpc")
        got = section.as_dict()
        assert got.pop("Gpc", None) == (gpc if included else None)
        assert got == want
    texts = case["gpp_string"].split("~")[1:]
    assert decoded.ignored == {sid: text for sid, text in zip(decoded.section_ids, texts,
                                                              strict=True)
                               if sid not in (gpp.USNAT, gpp.USCA)}


def test_both_usnat_layouts_and_the_other_sections():
    v1 = gpp.decode(fixture("usnat_v1_sensitive_data")).sections[7]
    v2 = gpp.decode(fixture("usnat_sensitive_data")).sections[7]
    assert (v1.version, len(v1.sensitive_data_processing),
            len(v1.known_child_sensitive_data_consents)) == (1, 12, 2)
    assert (v2.version, len(v2.sensitive_data_processing),
            len(v2.known_child_sensitive_data_consents)) == (2, 16, 3)
    assert v1.sensitive_data_processing[7] == gpp.CONSENT  # precise geolocation
    assert v2.sensitive_data_processing[15] == gpp.NO_CONSENT
    mixed = gpp.decode(fixture("tcfeuv2_and_usnat"))
    assert mixed.ignored_sections == [{"id": 2, "name": "tcfeuv2"}]
    assert mixed.ignored[2].startswith(STRINGS["tcf"][2]["tc_string"])
    assert gpp.decode(fixture("usnat_gpc")).sections[7].gpc is True
    assert gpp.decode(fixture("usnat_opted_out")).sections[7].gpc is None


@pytest.mark.parametrize(("text", "says"), [
    ("", "non-empty"),
    ("DBABLA~CVVVAAAAAABA~", "lists 1 section"),
    ("DBABLA", "carries \\(0\\)"),
    ("DBABLA~CVVV AAAAABA", "' '"),
    ("DBABLA~CVVV", "ends before"),
    ("CBABLA~CVVVAAAAAABA", "type 2"),
    ("DCABLA~CVVVAAAAAABA", "version 2"),
    ("DBABLA~DVVVAAAAAABA", "usnat section has version 3"),
    ("DBABBg~CVYUAglA", "usca section has version 2"),
    ("DBABLA~CVVVAAAAAAAA", "MspaCoveredTransaction is 0"),
    ("DBABLA~CVVVAAAAAABA.YA.YA", "repeats its GPC"),
    ("DBABLA~CVVVAAAAAABA.A", "core segment"),
    ("DBABLA~C_VVAAAAAABA", "is 3"),
    ("DBACLMA~CVVmAAAAAABA.QA~", "section 9 is empty"),
])
def test_malformed_strings_raise_a_decode_error_saying_what(text, says):
    with pytest.raises(DecodeError, match=says):
        gpp.decode(text)


def test_an_unfinished_fibonacci_id_is_malformed():
    # header type 3, version 1, one entry, not a range, then 0101… never ending in 11
    bits = format(3, "06b") + format(1, "06b") + format(1, "012b") + "0" + "01" * 20
    bits += "0" * (-len(bits) % 6)
    text = "".join(ALPHABET[int(bits[i:i + 6], 2)] for i in range(0, len(bits), 6))
    with pytest.raises(DecodeError, match="Fibonacci|ends before"):
        gpp.decode(text + "~AAAA")


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.one_of(st.text(max_size=300),
                 st.text(alphabet=ALPHABET + ".~", max_size=300),
                 st.sampled_from([c["gpp_string"] for c in CASES]).flatmap(
                     lambda s: st.tuples(st.just(s), st.integers(0, len(s)),
                                         st.text(alphabet=ALPHABET + ".~", max_size=4)))
                 .map(lambda t: t[0][:t[1]] + t[2] + t[0][t[1] + len(t[2]):])))
def test_any_text_decodes_or_raises_decode_error(text):
    try:
        gpp.decode(text)
    except DecodeError as exc:
        assert str(exc)
