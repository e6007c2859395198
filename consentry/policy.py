"""The policy every domain reads: purposes, categories, channels, jurisdictions, retention.

Loaded from TOML, validated at load with errors that name the key and the problem,
and printable back to TOML that loads to the same policy. `init_app` loads it once;
entries (views, commands, jobs) get it with `get_policy()` and hand it to services.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli_w
from flask import Flask, current_app

from consentry.errors import Invalid

SENSITIVITIES = ("standard", "sensitive", "special")
EXTENSION = "consentry.policy"
BASES = ("opt_in", "opt_out")
KEPT_FOR_ACCOUNT_LIFETIME = "account_lifetime"


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the key."""


@dataclass(frozen=True)
class Category:
    id: str
    label: str
    description: str
    sensitivity: str
    retention_class: str
    labels: dict[str, str] = field(default_factory=dict)
    control_labels: dict[str, str] = field(default_factory=dict)

    def label_in(self, language: str) -> str:
        return self.labels.get(language, self.label)


@dataclass(frozen=True)
class Purpose:
    id: str
    label: str
    description: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Jurisdiction:
    id: str
    label: str
    basis: dict[str, str]
    gpc: bool
    sale_sharing_purposes: tuple[str, ...]


@dataclass(frozen=True)
class RetentionTarget:
    name: str
    url: str
    table: str
    timestamp_column: str
    subject_column: str | None
    retention_class: str | None
    category_column: str | None


@dataclass(frozen=True)
class Policy:
    version: str
    controller: str
    policy_url: str
    preference_center_url: str | None
    default_jurisdiction: str
    token_max_age_seconds: int
    consent_max_age_days: int | None
    purposes: dict[str, Purpose]
    channels: dict[str, str]
    categories: dict[str, Category]
    jurisdictions: dict[str, Jurisdiction]
    retention_classes: dict[str, int | None]
    decisions_class: str
    retention_targets: tuple[RetentionTarget, ...]
    # Origins (scheme://host[:port]) of the company's own sites: where the people's pages
    # may send a person back to (`return_url`) and which may embed them in a frame.
    page_origins: tuple[str, ...] = ()
    # the decision surfaces counted by name on /metrics; any other counts as "other"
    surfaces: tuple[str, ...] = ()
    source: str = field(compare=False, default="")
    digest: str = field(compare=False, default="")

    def jurisdiction(self, jurisdiction_id: str | None) -> Jurisdiction:
        """Return a jurisdiction, the policy's default for None or an unknown id."""
        return self.jurisdictions.get(jurisdiction_id or self.default_jurisdiction,
                                      self.jurisdictions[self.default_jurisdiction])

    def unknown_ids(self, prefix: str = "", *, purpose: str | None = None,
                    category: str | None = None, channel: str | None = None,
                    jurisdiction: str | None = None) -> dict[str, list[str]]:
        """Field errors (keyed `prefix` + name) for each given id this policy does not know."""
        fields = {}
        for name, value, known in (("purpose", purpose, self.purposes),
                                   ("category", category, self.categories),
                                   ("channel", channel, self.channels),
                                   ("jurisdiction", jurisdiction, self.jurisdictions)):
            if value is not None and value not in known:
                fields[f"{prefix}{name}"] = [f"Unknown {name} {value!r}."]
        return fields

    def check_ids(self, **ids: str | None) -> None:
        """Raise a 422 naming every given id (purpose, category, channel, jurisdiction)
        this policy does not know."""
        fields = self.unknown_ids(**ids)
        if fields:
            raise unknown_error(fields)

    def to_dict(self) -> dict[str, Any]:
        """Return the policy as the plain data of its TOML file."""
        data: dict[str, Any] = {
            "version": self.version,
            "controller": self.controller,
            "policy_url": self.policy_url,
            "default_jurisdiction": self.default_jurisdiction,
            "token_max_age_seconds": self.token_max_age_seconds,
        }
        if self.preference_center_url:
            data["preference_center_url"] = self.preference_center_url
        if self.page_origins:
            data["page_origins"] = list(self.page_origins)
        if self.consent_max_age_days is not None:
            data["consent_max_age_days"] = self.consent_max_age_days
        if self.surfaces:
            data["surfaces"] = list(self.surfaces)
        data["purposes"] = {
            p.id: {"label": p.label, "description": p.description, "labels": dict(p.labels)}
            for p in self.purposes.values()
        }
        data["channels"] = dict(self.channels)
        data["categories"] = {
            c.id: {"label": c.label, "description": c.description, "sensitivity": c.sensitivity,
                   "retention_class": c.retention_class, "labels": dict(c.labels),
                   "control_labels": dict(c.control_labels)}
            for c in self.categories.values()
        }
        data["jurisdictions"] = {
            j.id: {"label": j.label, "gpc": j.gpc,
                   "sale_sharing_purposes": list(j.sale_sharing_purposes),
                   "basis": dict(j.basis)}
            for j in self.jurisdictions.values()
        }
        retention: dict[str, Any] = {
            "decisions_class": self.decisions_class,
            "classes": {k: (KEPT_FOR_ACCOUNT_LIFETIME if v is None else v)
                        for k, v in self.retention_classes.items()},
        }
        if self.retention_targets:
            retention["targets"] = [
                {k: v for k, v in {
                    "name": t.name, "url": t.url, "table": t.table,
                    "timestamp_column": t.timestamp_column, "subject_column": t.subject_column,
                    "class": t.retention_class, "category_column": t.category_column,
                }.items() if v is not None}
                for t in self.retention_targets
            ]
        data["retention"] = retention
        return data

    def to_toml(self) -> str:
        """Return the policy as TOML that loads back to an equal policy."""
        return tomli_w.dumps(self.to_dict())


def unknown_error(fields: dict[str, list[str]]) -> Invalid:
    """The 422 for ids the policy does not know, each named in `fields`."""
    return Invalid("The request names something the policy does not know.", fields=fields)


def _get(data: dict, key: str, path: str, kind: type | tuple, required: bool = True,
         default: Any = None) -> Any:
    if key not in data:
        if required:
            raise PolicyError(f"{path}{key}: missing")
        return default
    value = data[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise PolicyError(f"{path}{key}: expected {names}, got {type(value).__name__}")
    return value


def _str_map(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise PolicyError(f"{path}: expected a table of strings")
    return dict(value)


def _origins(values: list) -> tuple[str, ...]:
    """Validate `page_origins`: each a bare https (or http://localhost) origin."""
    origins = []
    for i, value in enumerate(values):
        parsed = urlsplit(value) if isinstance(value, str) else None
        local = parsed is not None and parsed.hostname in ("localhost", "127.0.0.1")
        if (parsed is None or not parsed.hostname or parsed.path not in ("", "/")
                or parsed.query or parsed.fragment or parsed.username
                or not (parsed.scheme == "https" or (parsed.scheme == "http" and local))):
            raise PolicyError(f"page_origins.{i}: expected an origin such as "
                              f"https://www.example.com, got {value!r}")
        origins.append(f"{parsed.scheme}://{parsed.netloc}")
    return tuple(origins)


def parse_policy(data: dict, source: str = "") -> Policy:
    """Validate raw policy data and return the Policy."""
    version = _get(data, "version", "", str)
    purposes = {}
    for pid, raw in _get(data, "purposes", "", dict).items():
        path = f"purposes.{pid}."
        if not isinstance(raw, dict):
            raise PolicyError(f"purposes.{pid}: expected a table")
        purposes[pid] = Purpose(pid, _get(raw, "label", path, str),
                                _get(raw, "description", path, str, False, ""),
                                _str_map(raw.get("labels", {}), path + "labels"))
    if not purposes:
        raise PolicyError("purposes: at least one purpose is needed")
    channels = _str_map(_get(data, "channels", "", dict), "channels")
    retention = _get(data, "retention", "", dict)
    classes: dict[str, int | None] = {}
    for name, days in _get(retention, "classes", "retention.", dict).items():
        if days == KEPT_FOR_ACCOUNT_LIFETIME:
            classes[name] = None
        elif isinstance(days, int) and not isinstance(days, bool) and days > 0:
            classes[name] = days
        else:
            raise PolicyError(f"retention.classes.{name}: expected a positive number of days "
                              f"or {KEPT_FOR_ACCOUNT_LIFETIME!r}, got {days!r}")
    categories = {}
    for cid, raw in _get(data, "categories", "", dict).items():
        path = f"categories.{cid}."
        if not isinstance(raw, dict):
            raise PolicyError(f"categories.{cid}: expected a table")
        sensitivity = _get(raw, "sensitivity", path, str)
        if sensitivity not in SENSITIVITIES:
            raise PolicyError(f"{path}sensitivity: must be one of {', '.join(SENSITIVITIES)}, "
                              f"got {sensitivity!r}")
        rclass = _get(raw, "retention_class", path, str)
        if rclass not in classes:
            raise PolicyError(f"{path}retention_class: unknown class {rclass!r} "
                              f"(known: {', '.join(classes)})")
        categories[cid] = Category(cid, _get(raw, "label", path, str),
                                   _get(raw, "description", path, str, False, ""),
                                   sensitivity, rclass,
                                   _str_map(raw.get("labels", {}), path + "labels"),
                                   _str_map(raw.get("control_labels", {}),
                                            path + "control_labels"))
    jurisdictions = {}
    for jid, raw in _get(data, "jurisdictions", "", dict).items():
        path = f"jurisdictions.{jid}."
        if not isinstance(raw, dict):
            raise PolicyError(f"jurisdictions.{jid}: expected a table")
        basis = _str_map(_get(raw, "basis", path, dict), path + "basis")
        for pid, value in basis.items():
            if pid not in purposes:
                raise PolicyError(f"{path}basis.{pid}: unknown purpose")
            if value not in BASES:
                raise PolicyError(f"{path}basis.{pid}: must be one of {', '.join(BASES)}, "
                                  f"got {value!r}")
        missing = sorted(set(purposes) - set(basis))
        if missing:
            raise PolicyError(f"{path}basis: no basis for purpose(s) {', '.join(missing)}")
        sale = _get(raw, "sale_sharing_purposes", path, list, False, [])
        for pid in sale:
            if pid not in purposes:
                raise PolicyError(f"{path}sale_sharing_purposes: unknown purpose {pid!r}")
        jurisdictions[jid] = Jurisdiction(jid, _get(raw, "label", path, str, False, jid), basis,
                                          _get(raw, "gpc", path, bool, False, True), tuple(sale))
    default_jurisdiction = _get(data, "default_jurisdiction", "", str)
    if default_jurisdiction not in jurisdictions:
        raise PolicyError(f"default_jurisdiction: unknown jurisdiction {default_jurisdiction!r}")
    decisions_class = _get(retention, "decisions_class", "retention.", str, False, "behavioral")
    if decisions_class not in classes:
        raise PolicyError(f"retention.decisions_class: unknown class {decisions_class!r}")
    targets = []
    for i, raw in enumerate(_get(retention, "targets", "retention.", list, False, [])):
        path = f"retention.targets.{i}."
        if not isinstance(raw, dict):
            raise PolicyError(f"retention.targets.{i}: expected a table")
        rclass = _get(raw, "class", path, str, False)
        category_column = _get(raw, "category_column", path, str, False)
        if (rclass is None) == (category_column is None):
            raise PolicyError(f"{path}class: give exactly one of 'class' or 'category_column'")
        if rclass is not None and rclass not in classes:
            raise PolicyError(f"{path}class: unknown class {rclass!r}")
        targets.append(RetentionTarget(_get(raw, "name", path, str), _get(raw, "url", path, str),
                                       _get(raw, "table", path, str),
                                       _get(raw, "timestamp_column", path, str),
                                       _get(raw, "subject_column", path, str, False),
                                       rclass, category_column))
    names = [t.name for t in targets]
    if len(names) != len(set(names)):
        raise PolicyError("retention.targets: target names must be unique")
    max_age = _get(data, "consent_max_age_days", "", int, False)
    if max_age is not None and max_age <= 0:
        raise PolicyError("consent_max_age_days: must be a positive number of days")
    token_age = _get(data, "token_max_age_seconds", "", int, False, 300)
    if token_age <= 0:
        raise PolicyError("token_max_age_seconds: must be positive")
    surfaces = _get(data, "surfaces", "", list, False, [])
    for i, surface in enumerate(surfaces):
        if not isinstance(surface, str) or not surface:
            raise PolicyError(f"surfaces.{i}: expected a non-empty string, got {surface!r}")
    if len(surfaces) != len(set(surfaces)):
        raise PolicyError("surfaces: names must be unique")
    policy = Policy(
        version=version,
        controller=_get(data, "controller", "", str, False, ""),
        policy_url=_get(data, "policy_url", "", str, False, ""),
        preference_center_url=_get(data, "preference_center_url", "", str, False),
        page_origins=_origins(_get(data, "page_origins", "", list, False, [])),
        default_jurisdiction=default_jurisdiction,
        token_max_age_seconds=token_age,
        consent_max_age_days=max_age,
        purposes=purposes,
        channels=channels,
        categories=categories,
        jurisdictions=jurisdictions,
        retention_classes=classes,
        decisions_class=decisions_class,
        retention_targets=tuple(targets),
        surfaces=tuple(surfaces),
        source=source,
    )
    digest = hashlib.sha256(policy.to_toml().encode()).hexdigest()
    return dataclasses.replace(policy, digest=digest)


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and validate the policy at `path`, or the shipped default."""
    if path is None:
        text = resources.files("consentry").joinpath("default_policy.toml").read_text("utf-8")
        source = "(shipped default)"
    else:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from exc
        source = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from exc
    return parse_policy(data, source)


def init_app(app: Flask) -> None:
    """Load the configured policy (or the shipped default) onto `app`."""
    app.extensions[EXTENSION] = load_policy(app.config["POLICY_FILE"])


def get_policy(app: Flask | None = None) -> Policy:
    """The active policy of `app` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION]
