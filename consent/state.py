"""A subject's consent state and how events fold into it. Pure: no Flask, no database.

The ledger keeps events; the current-state table keeps `fold(events)` written in the
same transaction; `?at=` folds the events up to a moment. One fold, used by all three.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

ChoiceKey = tuple[str, str | None, str | None]  # (purpose, category, channel)


@dataclass(frozen=True)
class Choice:
    status: str
    since: datetime


@dataclass(frozen=True)
class ConsentState:
    """What one subject has chosen: explicit choices and the global switches."""

    jurisdiction: str | None = None
    choices: dict[ChoiceKey, Choice] = field(default_factory=dict)
    switches: dict[str, datetime] = field(default_factory=dict)  # switch → on since

    def switch_on(self, name: str) -> bool:
        return name in self.switches

    def to_json(self) -> dict:
        """Serialise for the current-state table."""
        return {
            "jurisdiction": self.jurisdiction,
            "choices": [[p, c, ch, v.status, v.since.isoformat()]
                        for (p, c, ch), v in sorted(self.choices.items(), key=_sort_key)],
            "switches": {k: v.isoformat() for k, v in sorted(self.switches.items())},
        }

    @classmethod
    def from_json(cls, data: dict | None) -> ConsentState:
        if not data:
            return cls()
        return cls(
            jurisdiction=data.get("jurisdiction"),
            choices={(p, c, ch): Choice(s, datetime.fromisoformat(t))
                     for p, c, ch, s, t in data.get("choices", [])},
            switches={k: datetime.fromisoformat(v) for k, v in data.get("switches", {}).items()},
        )


def _sort_key(item):
    (p, c, ch), _ = item
    return (p, c or "", ch or "")


@dataclass(frozen=True)
class Event:
    """The parts of a consent event the fold needs."""

    kind: str  # "choice" | "switch"
    received_at: datetime  # when the choice was made: the event's occurred_at
    jurisdiction: str | None = None
    purpose: str | None = None
    category: str | None = None
    channel: str | None = None
    status: str | None = None  # choice: granted/denied/withdrawn; switch: on/off
    switch: str | None = None
    source: str | None = None


def apply(state: ConsentState, event: Event) -> ConsentState:
    """Return the state after `event`."""
    jurisdiction = event.jurisdiction or state.jurisdiction
    if event.kind == "choice":
        choices = dict(state.choices)
        choices[(event.purpose, event.category, event.channel)] = Choice(event.status,
                                                                         event.received_at)
        return replace(state, jurisdiction=jurisdiction, choices=choices)
    switches = dict(state.switches)
    # A Global Privacy Control signal is a sale/sharing opt-out recorded with source
    # "gpc"; it is remembered as such so the gate can name `gpc` as the reason.
    names = [event.switch]
    if event.switch == "sale_sharing_opt_out" and (event.source == "gpc" or event.status == "off"):
        names.append("gpc")
    for name in names:
        if event.status == "on":
            switches.setdefault(name, event.received_at)
        else:
            switches.pop(name, None)
    return replace(state, jurisdiction=jurisdiction, switches=switches)


def fold(events, initial: ConsentState | None = None) -> ConsentState:
    """Replay `events` in order."""
    state = initial or ConsentState()
    for event in events:
        state = apply(state, event)
    return state
