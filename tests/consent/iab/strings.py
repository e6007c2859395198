"""The strings generate.mjs made with the IAB Tech Lab's libraries, and what they encode."""

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "iab" / "strings.json"
STRINGS = json.loads(FIXTURES.read_text("utf-8"))


def tc(name: str) -> str:
    """The TC string of that name."""
    return next(t["tc_string"] for t in STRINGS["tcf"] if t["name"] == name)


def gpp(name: str) -> str:
    """The GPP string of that name."""
    return next(g["gpp_string"] for g in STRINGS["gpp"] if g["name"] == name)
