"""The preference page's one form: its controls from a subject's state, and the choices a
submitted form asks for. Pure: state, policy and words in; controls or choices out.

Field names are the contract (API.md "Pages for people"): `switch:<switch>`,
`purpose:<purpose>` and `category:<purpose>:<category>`; a checked box allows (or, for a
switch, sets) it. The form also carries `shown`, the names that were checked when it
was drawn, so saving records exactly the boxes the person changed, not a state that
changed elsewhere meanwhile, and `notice_version`, the notice version the page linked to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consent.ledger import SWITCHES, ChoiceInput, allow_all_choices, reject_all_choices
from consent.state import ConsentState
from consentry.policy import Policy
from pages.text import TEXT, format_date, why

SHOWN_FIELD = "shown"
# the notice version the page showed ("<notice_id>@<version>"): what the person saw
NOTICE_FIELD = "notice_version"


@dataclass(frozen=True)
class Control:
    """One checkbox with its label, optional help, and the line saying why."""

    name: str
    label: str
    checked: bool
    why: str
    help: str = ""
    locked: bool = False  # on and unchangeable here (the browser's GPC)

    @property
    def id(self) -> str:
        return self.name.replace(":", "-")


@dataclass(frozen=True)
class PurposeControls:
    id: str
    control: Control
    standard: list[Control] = field(default_factory=list)
    permission: list[Control] = field(default_factory=list)


def switch_controls(state: ConsentState, language: str, gpc_now: bool) -> list[Control]:
    """The global switches, first on the page."""
    t = TEXT[language]
    controls = []
    for switch in SWITCHES:
        name = f"switch:{switch}"
        since = state.switches.get(switch)
        if switch == "sale_sharing_opt_out" and gpc_now:
            line, locked = t["why:switch_gpc_now"], True
        elif since is None:
            line, locked = t["why:switch_off"], False
        elif switch == "sale_sharing_opt_out" and "gpc" in state.switches:
            line, locked = t["why:switch_gpc"].format(
                date=format_date(state.switches["gpc"], language)), False
        else:
            line, locked = t["why:switch_on"].format(date=format_date(since, language)), False
        controls.append(Control(name, t[name], since is not None or locked, line,
                                t[f"{name}:help"], locked))
    return controls


def purpose_controls(entries: list[dict], policy: Policy, language: str) -> list[PurposeControls]:
    """Each purpose's toggle with its categories under it, standard ones apart from those
    that need permission (sensitive, special), from the consents answer's entries."""
    rows = {(e["purpose"], e["category"]): e for e in entries if e["channel"] is None}
    groups = []
    for purpose in policy.purposes.values():
        label = purpose.label_in(language)
        own = rows[(purpose.id, None)]
        group = PurposeControls(
            purpose.id,
            Control(f"purpose:{purpose.id}", label, own["allowed"],
                    why(own["reason"], own["since"], language, purpose=label),
                    purpose.description_in(language)))
        for category in policy.categories.values():
            row = rows[(purpose.id, category.id)]
            sensitive = category.sensitivity != "standard"
            control = Control(f"category:{purpose.id}:{category.id}",
                              category.label_in(language), row["allowed"],
                              why(row["reason"], row["since"], language, sensitive=sensitive,
                                  purpose=label),
                              category.description_in(language))
            (group.permission if sensitive else group.standard).append(control)
        groups.append(group)
    return groups


def all_controls(switches: list[Control], purposes: list[PurposeControls]) -> list[Control]:
    controls = list(switches)
    for group in purposes:
        controls += [group.control, *group.standard, *group.permission]
    return controls


def shown_value(controls: list[Control]) -> str:
    """The `shown` field: the names checked as drawn (locked ones are not the form's)."""
    return " ".join(c.name for c in controls if c.checked and not c.locked)


def changes(policy: Policy, form: dict[str, str], shown: str,
            locked: frozenset[str] = frozenset()) -> tuple[list[ChoiceInput], dict[str, bool]]:
    """The choices and switch settings of every box whose state the person changed.

    Checked → granted (a switch: set), unchecked → denied (a switch: undone). Names the
    policy does not know are ignored, as are locked controls.
    """
    names = [f"switch:{s}" for s in SWITCHES]
    for purpose in policy.purposes:
        names.append(f"purpose:{purpose}")
        names += [f"category:{purpose}:{c}" for c in policy.categories]
    was = set(shown.split())
    choices, switches = [], {}
    for name in names:
        if name in locked:
            continue
        checked = name in form
        if checked == (name in was):
            continue
        kind, _, rest = name.partition(":")
        status = "granted" if checked else "denied"
        if kind == "switch":
            switches[rest] = checked
        elif kind == "purpose":
            choices.append(ChoiceInput(rest, status))
        else:
            purpose, _, category = rest.partition(":")
            choices.append(ChoiceInput(purpose, status, category=category))
    return choices, switches


REJECT_ALL, ALLOW_ALL = "action:reject_all", "action:allow_all"


def bulk_choices(policy: Policy, form: dict[str, str]) -> list[ChoiceInput] | None:
    """The choices of "Reject all" or "Allow all" when the person pressed one (the boxes
    are then not read, and the switches are left as they are); else None."""
    if REJECT_ALL in form:
        return reject_all_choices(policy)
    if ALLOW_ALL in form:
        return allow_all_choices(policy)
    return None


def reaffirmed(state: ConsentState, choices: list[ChoiceInput]) -> list[ChoiceInput]:
    """`choices` and, again, every explicit choice of `state` they leave as it was: saving
    the form when the person was asked to consent again confirms each choice under the
    notice shown (a choice keeps its status; only its time and notice are new)."""
    changed = {(c.purpose, c.category, c.channel) for c in choices}
    return choices + [ChoiceInput(purpose, choice.status, category=category, channel=channel)
                      for (purpose, category, channel), choice in sorted(
                          state.choices.items(), key=lambda item: tuple(
                              part or "" for part in item[0]))
                      if (purpose, category, channel) not in changed]
