"""The audit actions have one list (audit/actions.py): the code writes exactly those, the
docs list them, and the entries filter takes a prefix."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from audit.actions import ACTIONS, action_prefixes

ROOT = Path(__file__).resolve().parents[2]
CODE = [p for d in ("consentry", "consent", "retention", "audit", "governance", "console",
                                 "webhooks")
        for p in (ROOT / d).rglob("*.py")]


def _strings(node) -> set[str]:
    """The string literal an argument is, or each branch of `"a" if x else "b"`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _strings(node.body) | _strings(node.orelse)
    return set()


def written_actions() -> set[str]:
    """The actions the code appends: append_entry's (or append_entries') third argument,
    or an `action=` constant handed down to the function that appends
    (consent/ledger.py's `_write`), or one put in a variable named `action` first."""
    found: set[str] = set()
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Assign) and any(
                    getattr(t, "id", None) == "action" for t in node.targets):
                found |= _strings(node.value)
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name in ("append_entry", "append_entries") and len(node.args) >= 3:
                found |= _strings(node.args[2])
            for keyword in node.keywords:
                if keyword.arg == "action":
                    found |= _strings(keyword.value)
    return found


def test_the_code_writes_exactly_the_listed_actions():
    written = written_actions()
    assert written == set(ACTIONS), (
        f"written but not in audit/actions.py: {sorted(written - set(ACTIONS))}; "
        f"listed but never written: {sorted(set(ACTIONS) - written)}")


def test_docs_audit_md_lists_every_action_with_its_meaning():
    text = (ROOT / "docs" / "audit.md").read_text("utf-8")
    section = text.split("## Actions", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", section, re.M))
    assert documented == set(ACTIONS)


def test_prefixes_cover_each_level_of_the_names():
    assert {"consent.", "retention.", "retention.hold.", "audit.export."} <= \
        set(action_prefixes())
    assert all(p.endswith(".") for p in action_prefixes())


def _actions(client, headers, **query) -> list[str]:
    r = client.get("/v1/audit/entries", headers=headers, query_string=query)
    assert r.status_code == 200, r.get_json()
    return [e["action"] for e in r.get_json()["entries"]]


def test_an_action_filter_ending_in_a_dot_is_a_prefix(client, admin, append):
    client.put("/v1/subjects/u-1/consents", headers=admin, json={
        "source": "test", "choices": [{"purpose": "personalization", "status": "granted"}]})
    client.post("/v1/subjects/u-1/opt-out", headers=admin, json={"scope": "personalization"})
    hold = client.post("/v1/retention/holds", headers=admin,
                       json={"subject_id": "u-1", "reason": "case"}).get_json()
    client.delete(f"/v1/retention/holds/{hold['id']}", headers=admin)
    append(1, action="consentXrecorded")  # a LIKE wildcard must not match it

    assert _actions(client, admin, action="consent.") == ["consent.recorded",
                                                          "consent.opt_out"]
    assert _actions(client, admin, action="retention.hold.") == [
        "retention.hold.created", "retention.hold.lifted"]
    assert _actions(client, admin, action="consent.recorded") == ["consent.recorded"]
    assert _actions(client, admin, action="consent") == []  # no dot: one exact action
    assert _actions(client, admin, action="consent.", subject_id="u-2") == []
