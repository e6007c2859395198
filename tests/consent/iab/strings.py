"""The strings generate.mjs made with the IAB Tech Lab's libraries, and what they encode."""

import json
from datetime import UTC, datetime
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "iab" / "strings.json"
STRINGS = json.loads(FIXTURES.read_text("utf-8"))


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def tc_fixture(name: str) -> str:
    """The TC string of that name exactly as the IAB library made it."""
    return next(t["tc_string"] for t in STRINGS["tcf"] if t["name"] == name)


def tc(name: str, last_updated: datetime | None = None, created: datetime | None = None,
       policy_version: int | None = None) -> str:
    """The TC string of that name, as a CMP would send it now: its Created and
    LastUpdated set to `last_updated` (default: the start of today, UTC, as CMPs round
    them to the day) and optionally another TcfPolicyVersion. Only those bits of the
    core segment change; everything else is the IAB library's encoding."""
    text = tc_fixture(name)
    core, dot, rest = text.partition(".")
    bits = "".join(format(ALPHABET.index(c), "06b") for c in core)
    when = last_updated or datetime.now(UTC).replace(hour=0, minute=0, second=0,
                                                      microsecond=0)

    def deciseconds(moment: datetime) -> str:
        return format(round((moment - _EPOCH).total_seconds() * 10), "036b")

    bits = bits[:6] + deciseconds(created or when) + deciseconds(when) + bits[78:]
    if policy_version is not None:
        bits = bits[:132] + format(policy_version, "06b") + bits[138:]
    core = "".join(ALPHABET[int(bits[i:i + 6], 2)] for i in range(0, len(bits), 6))
    return core + dot + rest


def gpp(name: str) -> str:
    """The GPP string of that name."""
    return next(g["gpp_string"] for g in STRINGS["gpp"] if g["name"] == name)
