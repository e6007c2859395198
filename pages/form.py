"""The preference page's one form: its controls from a subject's state, and the choices a
submitted form asks for. Pure: state, policy and words in; controls or choices out.

Field names are the contract (API.md "Pages for people"): `switch:<switch>`,
`purpose:<purpose>`, `category:<purpose>:<category>` and `channel:<purpose>:<channel>`; a
checked box allows (or, for a switch, sets) it. The form also carries `shown`, the names
that were checked when it was drawn, so saving records exactly the boxes the person
changed, not a state that changed elsewhere meanwhile, and `notice_version`, the notice
version the page linked to. Buttons that act alone (the boxes are then not read):
`action:reject_all`, `action:allow_all` and `object:<purpose>`.

What the page shows is what the gate answers (consent/gate.py, one evaluation), drawn
so that a child never looks allowed under a purpose that looks off: a purpose is
checked when the gate allows it or anything under it (a category, a channel). Its line
then says it is partly on; unticking it denies the purpose everywhere, which outranks
every narrower grant.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from markupsafe import Markup

from consent.gate import evaluate, evaluate_purpose
from consent.ledger import SWITCHES, ChoiceInput, allow_all_choices, reject_all_choices
from consent.state import ConsentState
from consentry.policy import BASE_LANGUAGE, Policy
from pages.text import TEXT, foreign, format_date, in_page_language, why

SHOWN_FIELD = "shown"
# the notice version the page showed ("<notice_id>@<version>"): what the person saw
NOTICE_FIELD = "notice_version"


@dataclass(frozen=True)
class Control:
    """One checkbox with its label, optional help, and the line saying why."""

    name: str
    label: str | Markup
    checked: bool
    why: str | Markup
    help: str | Markup = ""
    locked: bool = False  # on and unchangeable here (the browser's GPC)

    @property
    def id(self) -> str:
        return self.name.replace(":", "-")


@dataclass(frozen=True)
class Recipient:
    """Who receives a purpose's data, in the page's words."""

    name: str
    role: str
    country: str | None
    safeguard: str | Markup | None
    categories: list[str | Markup] = field(default_factory=list)  # empty: not stated


@dataclass(frozen=True)
class PurposeControls:
    id: str
    control: Control
    standard: list[Control] = field(default_factory=list)
    permission: list[Control] = field(default_factory=list)
    channels: list[Control] = field(default_factory=list)
    basis: str = "opt_in"  # the subject's jurisdiction's: opt_in (consent) or opt_out
    basis_text: str = ""
    objected: bool = False  # opt_out: the person objected already (the purpose is denied)
    recipients: list[Recipient] = field(default_factory=list)

    @property
    def object_name(self) -> str:
        return f"object:{self.id}"


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


def offered(policy: Policy, purpose: str) -> list[str]:
    """The categories the page offers under `purpose`: not those `not_for` it."""
    return [cid for cid, c in policy.categories.items() if purpose not in c.not_for]


def label(thing, language: str) -> str | Markup:
    """A policy label in `language`, or marked with its own language when the policy
    gives none in it (API.md: text in another language carries its own `lang`)."""
    if language == BASE_LANGUAGE or language in thing.labels:
        return thing.label_in(language)
    return foreign(thing.label, BASE_LANGUAGE)


def description(thing, language: str) -> str | Markup:
    if language == BASE_LANGUAGE or language in thing.descriptions:
        return thing.description_in(language)
    return foreign(thing.description, BASE_LANGUAGE) if thing.description else ""


def purpose_controls(state: ConsentState, policy: Policy, language: str, now: datetime,
                     jurisdiction: str) -> list[PurposeControls]:
    """Each purpose's toggle with its categories under it, standard ones apart from those
    that need permission (sensitive, special), and its channels: all of them for a
    `per_channel` purpose, else those where the subject's state differs by channel.
    Evaluated by the gate for the subject's `jurisdiction` (the consents answer's)."""
    t = TEXT[language]
    state = state if state.jurisdiction else replace(state, jurisdiction=jurisdiction)
    juris = policy.jurisdiction(jurisdiction)
    groups = []
    for purpose in policy.purposes.values():
        name = label(purpose, language)
        categories = offered(policy, purpose.id)
        own = evaluate_purpose(state, policy, purpose.id, None, now)
        verdicts = evaluate(state, policy, purpose.id, None, categories, now).verdicts
        standard, permission = [], []
        for verdict in verdicts:
            category = policy.categories[verdict.category]
            sensitive = category.sensitivity != "standard"
            control = Control(f"category:{purpose.id}:{category.id}", label(category, language),
                              verdict.allowed,
                              why(verdict.reason, verdict.since, language, sensitive=sensitive,
                                  purpose=name),
                              description(category, language))
            (permission if sensitive else standard).append(control)
        channels = _channel_controls(state, policy, purpose, categories, own, verdicts,
                                     language, now, name)
        partly = not own.allowed and any(c.checked for c in [*standard, *permission,
                                                               *channels])
        line = t["why:partly_on"] if partly else why(own.reason, own.since, language,
                                                      purpose=name)
        basis = juris.basis.get(purpose.id, "opt_in")
        choice = state.choices.get((purpose.id, None, None))
        groups.append(PurposeControls(
            purpose.id,
            Control(f"purpose:{purpose.id}", name, own.allowed or partly, line,
                    description(purpose, language)),
            standard, permission, channels, basis, t[f"basis:{basis}"],
            objected=choice is not None and choice.status != "granted",
            recipients=recipients(policy, purpose.id, language)))
    return groups


def _channel_controls(state, policy, purpose, categories, own, verdicts, language, now,
                      name) -> list[Control]:
    t = TEXT[language]
    everywhere = (own.allowed, frozenset(v.category for v in verdicts if v.allowed))
    controls = []
    for channel, channel_label in policy.channels.items():
        here = evaluate_purpose(state, policy, purpose.id, channel, now)
        allowed = frozenset(v.category for v in evaluate(
            state, policy, purpose.id, channel, categories, now).verdicts if v.allowed)
        if not purpose.per_channel and (here.allowed, allowed) == everywhere:
            continue
        partly = not here.allowed and bool(allowed)
        controls.append(Control(
            f"channel:{purpose.id}:{channel}", in_page_language(channel_label, BASE_LANGUAGE,
                                                                language),
            here.allowed or partly,
            t["why:partly_on"] if partly else why(here.reason, here.since, language,
                                                   purpose=name)))
    return controls


def recipients(policy: Policy, purpose: str, language: str) -> list[Recipient]:
    """The policy's recipients of `purpose`, with their role in words."""
    t = TEXT[language]
    return [Recipient(r.name, t[f"role:{r.role}"], r.country,
                      r.transfer_safeguard and in_page_language(r.transfer_safeguard,
                                                                BASE_LANGUAGE, language),
                      [label(policy.categories[c], language) for c in r.categories
                       if c in policy.categories])
            for r in policy.recipients if purpose in r.purposes]


def all_controls(switches: list[Control], purposes: list[PurposeControls]) -> list[Control]:
    controls = list(switches)
    for group in purposes:
        controls += [group.control, *group.standard, *group.permission, *group.channels]
    return controls


def shown_value(controls: list[Control]) -> str:
    """The `shown` field: the names checked as drawn (locked ones are not the form's)."""
    return " ".join(c.name for c in controls if c.checked and not c.locked)


def changes(policy: Policy, form: dict[str, str], shown: str,
            locked: frozenset[str] = frozenset()) -> tuple[list[ChoiceInput], dict[str, bool]]:
    """The choices and switch settings of every box whose state the person changed.

    Checked → granted (a switch: set), unchecked → denied (a switch: undone). Names the
    policy does not know are ignored, as are locked controls and categories `not_for`
    their purpose (never offered).
    """
    names = [f"switch:{s}" for s in SWITCHES]
    for purpose in policy.purposes:
        names.append(f"purpose:{purpose}")
        names += [f"category:{purpose}:{c}" for c in offered(policy, purpose)]
        names += [f"channel:{purpose}:{c}" for c in policy.channels]
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
        elif kind == "channel":
            purpose, _, channel = rest.partition(":")
            choices.append(ChoiceInput(purpose, status, channel=channel))
        else:
            purpose, _, category = rest.partition(":")
            choices.append(ChoiceInput(purpose, status, category=category))
    return choices, switches


REJECT_ALL, ALLOW_ALL = "action:reject_all", "action:allow_all"


def bulk_choices(policy: Policy, form: dict[str, str], jurisdiction: str | None = None
                 ) -> list[ChoiceInput] | None:
    """The choices of "Reject all", "Allow all" or "Object" when the person pressed one
    (the boxes are then not read, and the switches are left as they are); else None.
    "Object" (`object:<purpose>`) is offered for a purpose on legitimate interest (an
    `opt_out` basis in the subject's jurisdiction) and denies that purpose."""
    if REJECT_ALL in form:
        return reject_all_choices(policy)
    if ALLOW_ALL in form:
        return allow_all_choices(policy)
    basis = policy.jurisdiction(jurisdiction).basis
    for pid in policy.purposes:
        if f"object:{pid}" in form and basis.get(pid) == "opt_out":
            return [ChoiceInput(pid, "denied")]
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
