import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "iab" / "strings.json"


def load_strings() -> dict:
    """The strings generate.mjs made with the IAB Tech Lab's libraries, and what they encode."""
    return json.loads(FIXTURES.read_text("utf-8"))


STRINGS = load_strings()


def tc(name: str) -> str:
    return next(t["tc_string"] for t in STRINGS["tcf"] if t["name"] == name)


def gpp(name: str) -> str:
    return next(g["gpp_string"] for g in STRINGS["gpp"] if g["name"] == name)


@pytest.fixture
def strings() -> dict:
    return STRINGS
