"""Helpers of the page tests: ask for links as a backend would, fill forms as a browser would."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

DECIDED = "2026-11-24T14:59:58Z"


class Form(HTMLParser):
    """The first form of a page: its hidden fields, checkboxes and submit buttons."""

    def __init__(self, html: str):
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.boxes: dict[str, dict] = {}
        self.buttons: dict[str, str] = {}
        self.labels: dict[str, str] = {}
        self._forms = 0
        self._label_for: str | None = None
        self._button: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._forms += 1
        if self._forms != 1:
            return
        if tag == "input" and a.get("type") == "hidden":
            self.hidden[a["name"]] = a.get("value", "")
        elif tag == "input" and a.get("type") == "checkbox":
            self.boxes[a["name"]] = {"checked": "checked" in a, "disabled": "disabled" in a,
                                     "id": a["id"]}
        elif tag == "button" and a.get("name"):
            self._button = a["name"]
            self.buttons[a["name"]] = ""
        elif tag == "label":
            self._label_for = a.get("for")

    def handle_data(self, data):
        if self._button:
            self.buttons[self._button] += data.strip()
        if self._label_for:
            self.labels[self._label_for] = self.labels.get(self._label_for, "") + data.strip()

    def handle_endtag(self, tag):
        if tag == "button":
            self._button = None
        if tag == "label":
            self._label_for = None

    def checked(self) -> set[str]:
        return {n for n, b in self.boxes.items() if b["checked"]}

    def submission(self, toggle=(), button: str | None = None) -> dict[str, str]:
        """What a browser sends after the person clicks the boxes in `toggle`."""
        data = dict(self.hidden)
        for name, box in self.boxes.items():
            if box["disabled"]:
                continue
            if box["checked"] != (name in toggle):
                data[name] = "1"
        if button:
            data[button] = "1"
        return data

    def label_of(self, name: str) -> str:
        return self.labels[self.boxes[name]["id"]]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
def backend(make_key):
    """The company's backend: asks for links and reads state."""
    return make_key("preferences:write", "preferences:read", "explanations:read",
                    "decisions:write", "signals:read", name="shop-backend")


@pytest.fixture
def preference_link(client, backend):
    """Ask for a preference link; return its path (the test client's host)."""

    def ask(subject="u-42", **body):
        r = client.post(f"/v1/subjects/{subject}/preference-link", json=body, headers=backend)
        assert r.status_code == 201, r.get_json()
        return path_of(r.get_json()["url"])

    return ask


@pytest.fixture
def decide(client, backend):
    """Record a decision an engine made; return its id."""

    def record(subject="u-42", signals=None, **extra):
        body = {"subject_id": subject, "surface": "homepage_hero", "channel": "web",
                "purpose": "personalization",
                "item": {"id": "sku-123", "label": {"en": "Trail running shoes",
                                                    "de": "Trail-Laufschuhe"}},
                "signals_used": signals if signals is not None else [
                    {"category": "behavioral",
                     "summary": {"en": "viewed running shoes 3 times this month",
                                 "de": "sich diesen Monat dreimal Laufschuhe angesehen haben"}}],
                "decided_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **extra}
        r = client.post("/v1/decisions", json=body, headers=backend)
        assert r.status_code == 201, r.get_json()
        return r.get_json()["decision_id"]

    return record


@pytest.fixture
def explanation_link(client, backend):
    def ask(decision_id, subject="u-42", **body):
        r = client.post(f"/v1/subjects/{subject}/explanations/{decision_id}/link", json=body,
                        headers=backend)
        assert r.status_code == 201, r.get_json()
        return path_of(r.get_json()["url"])

    return ask


@pytest.fixture
def events(client, backend):
    """The subject's consent events, oldest first."""

    def read(subject="u-42"):
        body = client.get(f"/v1/subjects/{subject}/consents/history?limit=1000",
                          headers=backend).get_json()
        return list(reversed(body["events"]))

    return read


@pytest.fixture
def gate(client, backend):
    """The signal gate's answer: category → reason (None when allowed)."""

    def ask(subject="u-42", purpose="personalization"):
        body = client.get(f"/v1/subjects/{subject}/allowed-signals",
                          query_string={"purpose": purpose, "channel": "web"},
                          headers=backend).get_json()
        return {**dict.fromkeys(body["allowed"]),
                **{d["category"]: d["reason"] for d in body["denied"]}}

    return ask
