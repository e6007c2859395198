"""The TC string decoder against strings made by @iabtechlabtcf/core, and malformed input."""

from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.iab import DecodeError, tcf
from tests.consent.iab.strings import STRINGS, tc

CASES = STRINGS["tcf"]
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_decodes_what_the_iab_library_encoded(case):
    decoded = tcf.decode(case["tc_string"])
    want = case["decoded"]
    got = {
        "version": decoded.version, "created": _iso(decoded.created),
        "last_updated": _iso(decoded.last_updated), "cmp_id": decoded.cmp_id,
        "cmp_version": decoded.cmp_version, "consent_screen": decoded.consent_screen,
        "consent_language": decoded.consent_language,
        "vendor_list_version": decoded.vendor_list_version,
        "policy_version": decoded.policy_version,
        "is_service_specific": decoded.is_service_specific,
        "use_non_standard_texts": decoded.use_non_standard_texts,
        "special_feature_opt_ins": sorted(decoded.special_feature_opt_ins),
        "purposes_consent": sorted(decoded.purposes_consent),
        "purposes_li_transparency": sorted(decoded.purposes_li_transparency),
        "purpose_one_treatment": decoded.purpose_one_treatment,
        "publisher_cc": decoded.publisher_cc,
        "vendor_consents": list(decoded.vendor_consents),
        "vendor_legitimate_interests": list(decoded.vendor_legitimate_interests),
        "publisher_restrictions": sorted(
            ({"purpose_id": r.purpose_id, "restriction_type": r.restriction_type,
              "vendors": list(r.vendors)} for r in decoded.publisher_restrictions),
            key=lambda r: (r["purpose_id"], r["restriction_type"])),
        "optional_segments": decoded.segments,
        "disclosed_vendors": (None if decoded.disclosed_vendors is None
                              else list(decoded.disclosed_vendors)),
        "publisher_tc": None if decoded.publisher_tc is None else {
            "purposes_consent": sorted(decoded.publisher_tc.purposes_consent),
            "purposes_li_transparency": sorted(decoded.publisher_tc.purposes_li_transparency),
            "num_custom_purposes": decoded.publisher_tc.num_custom_purposes,
            "custom_purposes_consent": sorted(decoded.publisher_tc.custom_purposes_consent),
            "custom_purposes_li_transparency":
                sorted(decoded.publisher_tc.custom_purposes_li_transparency)},
    }
    assert got == want


def test_the_fixtures_cover_what_the_decoder_must_handle():
    decoded = {c["name"]: tcf.decode(c["tc_string"]) for c in CASES}
    assert {d.policy_version for d in decoded.values()} == {4, 5}
    assert any(d.purposes_consent == frozenset(range(1, 12)) for d in decoded.values())
    assert any(not d.purposes_consent for d in decoded.values())
    assert any(d.disclosed_vendors is not None and d.publisher_tc is not None
               for d in decoded.values())
    assert any(d.publisher_restrictions for d in decoded.values())
    assert any(not d.segments for d in decoded.values())
    # range-encoded vendors: far fewer bits than a bitfield up to vendor 800
    assert len(CASES[7]["tc_string"]) < 800 // 6
    assert 1 in decoded["special_feature_1_on"].special_feature_opt_ins
    assert 1 not in decoded["special_feature_1_off"].special_feature_opt_ins


@pytest.mark.parametrize(("text", "says"), [
    ("", "empty"),
    ("CQt-4cAQuCLYAEsAHCENCWFgAAAAAAAAAAYgAAAAAAAA.", "segment 2 is empty"),
    ("CQt-4cAQuCLYAEsAHCENCWFgAAAAAAAAAAYgAAAAAAAA!", "'!' at position 45"),
    ("CQt-4cAQuCLYAEsAHCENCWFgAAAAAA", "ends before"),
    ("BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA", "version 1"),
    ("CQt-4cAQuCLYAEsAHCENCWFgAAAAAAAAAAYgAAAAAAAA.wAAA", "segment type 6"),
    ("CQt-4cAQuCLYAEsAHCENCWFgAAAAAAAAAAYgAAAAAAAA.IAAA.IAAA", "repeats"),
    ("CQt-4cAQuCLYAEsAHCENCWFgAAAAAAAAAAYgAAAAAAAA.dgAAAA", "PubPurposesLITransparency"),
])
def test_malformed_strings_raise_a_decode_error_saying_what(text, says):
    with pytest.raises(DecodeError, match=says):
        tcf.decode(text)


def test_a_letter_outside_a_to_z_is_malformed():
    # ConsentLanguage starts at bit 108: set its first letter to 63
    bits = "".join(format(ALPHABET.index(c), "06b") for c in tc("no_purposes"))
    broken = bits[:108] + "111111" + bits[114:]
    text = "".join(ALPHABET[int(broken[i:i + 6], 2)] for i in range(0, len(broken), 6))
    with pytest.raises(DecodeError, match="ConsentLanguage holds 63"):
        tcf.decode(text)


def test_a_range_above_max_vendor_id_or_backwards_is_malformed():
    def core_with(vendor_bits: str) -> str:
        head = "".join(format(ALPHABET.index(c), "06b") for c in tc("no_purposes"))[:213]
        bits = head + vendor_bits + "0" * 16 + "0" + "0" * 12 + "0" * 12
        bits += "0" * (-len(bits) % 6)
        return "".join(ALPHABET[int(bits[i:i + 6], 2)] for i in range(0, len(bits), 6))

    above = format(5, "016b") + "1" + format(1, "012b") + "0" + format(9, "016b")
    with pytest.raises(DecodeError, match="above its MaxVendorId 5"):
        tcf.decode(core_with(above))
    backwards = (format(9, "016b") + "1" + format(1, "012b") + "1" + format(7, "016b")
                 + format(3, "016b"))
    with pytest.raises(DecodeError, match="range 7-3"):
        tcf.decode(core_with(backwards))
    fine = format(9, "016b") + "1" + format(1, "012b") + "1" + format(3, "016b") \
        + format(7, "016b")
    assert list(tcf.decode(core_with(fine)).vendor_consents) == [3, 4, 5, 6, 7]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.one_of(st.text(max_size=300),
                 st.text(alphabet=ALPHABET + ".", max_size=300),
                 st.sampled_from([c["tc_string"] for c in CASES]).flatmap(
                     lambda s: st.tuples(st.just(s), st.integers(0, len(s)),
                                         st.text(alphabet=ALPHABET + ".", max_size=4)))
                 .map(lambda t: t[0][:t[1]] + t[2] + t[0][t[1] + len(t[2]):])))
def test_any_text_decodes_or_raises_decode_error(text):
    try:
        tcf.decode(text)
    except DecodeError as exc:
        assert str(exc)
