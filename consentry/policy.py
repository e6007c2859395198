"""The policy every domain reads: purposes, categories, channels, jurisdictions, retention.

Loaded from TOML, validated at load with errors that name the key and the problem,
and printable back to TOML that loads to the same policy. `init_app` loads it once;
entries (views, commands, jobs) get it with `get_policy()` and hand it to services.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli_w
from flask import Flask, current_app

from consentry.clock import Duration, parse_duration
from consentry.errors import Invalid
from consentry.fields import NOTICE_ID_RULE, is_notice_id

SENSITIVITIES = ("standard", "sensitive", "special")
EXTENSION = "consentry.policy"
BASES = ("opt_in", "opt_out")
# What each basis is in law, as a W3C DPV term (https://w3id.org/dpv): an opt-in purpose
# rests on consent; an opt-out purpose on the controller's legitimate interest, which the
# person may object to (GDPR Art. 6(1)(f), 21; in the US, processing until they opt out).
# Sensitive and special categories always need their own grant: explicit consent.
LAWFUL_BASES = {"opt_in": "dpv:Consent", "opt_out": "dpv:LegitimateInterest"}
EXPLICIT_CONSENT = "dpv:ExplicitlyExpressedConsent"
# The same bases in the words of the law a jurisdiction follows (its `law`), as a record of
# processing states them: per basis, `sale_opt_out` for an opt-out purpose that is a sale or
# share, and the condition for a category used only with its own grant (`sensitive`,
# `special`). None: a jurisdiction without a named law.
LAW_WORDS: dict[str | None, dict[str, str]] = {
    "gdpr": {"opt_in": "GDPR Art. 6(1)(a) consent",
             "opt_out": "GDPR Art. 6(1)(f) legitimate interest",
             "sensitive": "GDPR Art. 6(1)(a) consent to the category itself",
             "special": "GDPR Art. 9(2)(a) explicit consent"},
    "uk_gdpr": {"opt_in": "UK GDPR Art. 6(1)(a) consent",
                "opt_out": "UK GDPR Art. 6(1)(f) legitimate interest",
                "sensitive": "UK GDPR Art. 6(1)(a) consent to the category itself",
                "special": "UK GDPR Art. 9(2)(a) explicit consent"},
    "ccpa": {"opt_in": "CCPA opt-in consent (Cal. Civ. Code §1798.140(h))",
             "opt_out": "CCPA opt-out (Cal. Civ. Code §1798.120)",
             "sale_opt_out": "CCPA opt-out of sale/sharing (Cal. Civ. Code §1798.120)",
             "sensitive": "CCPA sensitive personal information, used only with consent "
                          "(Cal. Civ. Code §1798.121)",
             "special": "CCPA sensitive personal information, used only with consent "
                        "(Cal. Civ. Code §1798.121)"},
    None: {"opt_in": "Consent (opt-in)",
           "opt_out": "Opt-out (processed until the person objects)",
           "sensitive": "Consent to the category itself (opt-in)",
           "special": "Explicit consent to the category itself (opt-in)"},
}
NO_LAW = "none"
# Who receives data: a processor acts for the controller, a third party for itself.
RECIPIENT_ROLES = {"processor": "dpv:DataProcessor", "third_party": "dpv:ThirdParty"}
# The EU and EEA states (ISO 3166-1 alpha-2): a recipient elsewhere is a transfer to a third
# country (GDPR Chapter V) and must name its safeguard.
EEA_COUNTRIES = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR IE IT LV LT LU MT NL PL PT RO SK SI ES SE "
    "IS LI NO".split())
_RECIPIENT_ID = re.compile(r"[a-z][a-z0-9_-]{0,63}")
# How long a consent is asked for before it is asked again: 13 months, as the CNIL
# recommends (the receipt states it; the gate enforces an age only with consent_max_age_days).
DEFAULT_CONSENT_VALID_DAYS = 395
KEPT_FOR_ACCOUNT_LIFETIME = "account_lifetime"
# `max_signal_age_days = "retention"`: a category's signals age out with its retention class
FROM_RETENTION = "retention"
# A jurisdiction that names no deadline for privacy requests gets the GDPR's (Art. 12(3)):
# one month, extendable by two; both are the shorter of the laws the default policy knows.
DEFAULT_REQUEST_DUE = parse_duration("P1M")
DEFAULT_REQUEST_EXTENSION = parse_duration("P2M")


# The seven fields of Google Consent Mode v2, in Google's order; `[consent_mode]` maps each.
CONSENT_MODE_FIELDS = ("ad_storage", "ad_user_data", "ad_personalization", "analytics_storage",
                       "personalization_storage", "functionality_storage", "security_storage")
# A Consent Mode field that does not depend on the person: always or never granted.
ALWAYS, NEVER = "always", "never"


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the key."""


# The language of a policy's plain `label` and `description`; `labels`/`descriptions`
# tables add (or override) other languages.
BASE_LANGUAGE = "en"


class _Labelled:
    """Label and description in a language: its translation, else the plain one."""

    label: str
    description: str
    labels: dict[str, str]
    descriptions: dict[str, str]

    def label_in(self, language: str) -> str:
        return self.labels.get(language, self.label)

    def description_in(self, language: str) -> str:
        return self.descriptions.get(language, self.description)

    def all_labels(self) -> dict[str, str]:
        """The label in every language the policy gives it."""
        return {BASE_LANGUAGE: self.label, **self.labels}

    def all_descriptions(self) -> dict[str, str]:
        """The description in every language the policy gives it."""
        return {BASE_LANGUAGE: self.description, **self.descriptions}


@dataclass(frozen=True)
class Category(_Labelled):
    id: str
    label: str
    description: str
    sensitivity: str
    retention_class: str
    labels: dict[str, str] = field(default_factory=dict)
    control_labels: dict[str, str] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    # Signal age: past `decay_after_days` a signal should count for less, past
    # `max_signal_age_days` not at all. `max_age_from_retention`: the policy said
    # "retention", so the maximum is the retention class's days (derived at load).
    decay_after_days: int | None = None
    max_signal_age_days: int | None = None
    max_age_from_retention: bool = False
    # purposes this category is never used for, whatever was granted (the gate answers
    # `not_permitted_for_purpose`; the preference page does not offer it under them)
    not_for: tuple[str, ...] = ()


@dataclass(frozen=True)
class Purpose(_Labelled):
    id: str
    label: str
    description: str
    labels: dict[str, str] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    # the W3C DPV purpose this purpose is an instance of, e.g. "dpv:Personalisation"
    dpv: str | None = None
    # the person chooses it per channel (the preference page shows a row per channel)
    per_channel: bool = False
    # the categories of data subjects (GDPR Art. 30(1)(c)) when not the policy's
    data_subjects: tuple[str, ...] = ()


@dataclass(frozen=True)
class Address:
    """A postal address (schema.org PostalAddress names in the Kantara view)."""

    street: str
    locality: str
    country: str
    postal_code: str | None = None


@dataclass(frozen=True)
class ControllerContact:
    """How to reach the controller and its data protection officer (GDPR Art. 13(1)(a), (b))."""

    email: str
    address: Address
    phone: str | None = None
    url: str | None = None
    dpo_email: str | None = None
    dpo_name: str | None = None


@dataclass(frozen=True)
class Recipient:
    """Who receives personal data for some purposes (GDPR Art. 13(1)(e))."""

    name: str
    role: str  # a key of RECIPIENT_ROLES
    purposes: tuple[str, ...]
    country: str | None = None
    # the stable id webhooks and reports name it by
    id: str = ""
    # the signal categories it receives; empty: not stated
    categories: tuple[str, ...] = ()
    # how a transfer outside the EU/EEA is safeguarded (GDPR Art. 46), e.g. standard
    # contractual clauses; required for such a country
    transfer_safeguard: str | None = None
    # handing data to it is a sale or share under the CCPA
    sale_sharing: bool = False

    @property
    def third_country(self) -> bool:
        """Whether handing data to it is a transfer to a third country."""
        return self.country is not None and self.country.upper() not in EEA_COUNTRIES


# The people's pages' background (consentry/static/consentry.css `--paper`): a policy's
# `[pages] accent_color` is text on it (links) and behind white text (buttons), so it must
# reach WCAG 2.1 AA contrast (1.4.3) with it.
PAGE_BACKGROUND = "#ffffff"
MIN_ACCENT_CONTRAST = 4.5
LOGO_TYPES = {".svg": "image/svg+xml", ".png": "image/png", ".webp": "image/webp",
              ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
MAX_LOGO_BYTES = 256 * 1024


@dataclass(frozen=True)
class PageLook:
    """The company's look on the people's pages (`[pages]`): all optional."""

    brand_name: str | None = None
    accent_color: str | None = None  # "#rrggbb"
    logo_file: str | None = None  # as the policy file gives it, relative to that file
    logo_path: Path | None = field(default=None, compare=False)  # resolved at load

    @property
    def logo_type(self) -> str | None:
        return LOGO_TYPES[self.logo_path.suffix.lower()] if self.logo_path else None


def contrast_ratio(one: str, other: str) -> float:
    """The WCAG 2.1 contrast ratio of two "#rrggbb" colours (1 to 21)."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
                   for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@dataclass(frozen=True)
class Jurisdiction:
    id: str
    label: str
    basis: dict[str, str]
    gpc: bool
    sale_sharing_purposes: tuple[str, ...]
    # How long a privacy request may take, and by how much it may be extended once
    # (ISO 8601 durations: GDPR Art. 12(3) one month + two, CCPA 45 days + 45).
    request_due: Duration = DEFAULT_REQUEST_DUE
    request_extension: Duration = DEFAULT_REQUEST_EXTENSION
    # the law whose words name its bases (a key of LAW_WORDS); None: no named law
    law: str | None = None

    def basis_in_law(self, purpose: str, own_grant: str | None = None) -> str:
        """The legal basis of `purpose` here in the words of the law; `own_grant`: the
        sensitivity of a category used only with its own grant."""
        words = LAW_WORDS[self.law]
        if own_grant is not None:
            return words[own_grant]
        basis = self.basis[purpose]
        if basis == "opt_out" and purpose in self.sale_sharing_purposes:
            return words.get("sale_opt_out", words[basis])
        return words[basis]


@dataclass(frozen=True)
class ConsentModeRule:
    """When a Consent Mode field is granted: `fixed` ("always"/"never"), else when the
    gate allows `purpose` every one of `categories` (none: the purpose's own toggle)."""

    fixed: str | None = None
    purpose: str | None = None
    categories: tuple[str, ...] = ()

    def to_toml(self) -> str | dict[str, Any]:
        if self.fixed is not None:
            return self.fixed
        return ({"purpose": self.purpose, "categories": list(self.categories)}
                if self.categories else {"purpose": self.purpose})


@dataclass(frozen=True)
class RetentionTarget:
    name: str
    url: str
    table: str
    timestamp_column: str
    subject_column: str | None
    retention_class: str | None
    category_column: str | None


# What the standard strings can name: TCF v2.2 purposes and special features, and the
# SensitiveDataProcessing fields of GPP's usnat (version 2: 16) and usca (9) sections.
TCF_PURPOSES = range(1, 12)
TCF_SPECIAL_FEATURES = range(1, 3)
GPP_SENSITIVE_FIELDS = {"usnat": range(1, 17), "usca": range(1, 10)}


@dataclass(frozen=True)
class TcfMapping:
    """The policy's `[tcf]` table: how a TC string's answers become choices."""

    # policy purpose → the TCF purposes it needs: granted only when all are consented
    purposes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # TCF special feature → the category its opt-in grants for each purpose granted
    special_features: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GppMapping:
    """The policy's `[gpp]` table: which categories GPP sensitive-data answers are about."""

    # the policy purposes a sensitive-data answer is recorded for
    purposes: tuple[str, ...] = ()
    # section name (usnat, usca) → SensitiveDataProcessing field (1-based) → category
    sensitive_data: dict[str, dict[int, str]] = field(default_factory=dict)


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
    # reach (subjects a purpose's live recipes may run for) above which processing counts
    # as large scale in the processing record's DPIA screening; None: not assessed
    dpia_large_scale_subjects: int | None = None
    # the notice a consent write's bare `notice_version` ("3") names; "<id>@<version>"
    # names any notice
    default_notice: str | None = None
    # Google Consent Mode v2 field → when it is granted; None: the policy maps none
    consent_mode: dict[str, ConsentModeRule] | None = None
    # `[controller]` as a table: the contact details (`controller` keeps the name)
    controller_contact: ControllerContact | None = None
    recipients: tuple[Recipient, ...] = ()
    # `[pages]`: brand name, accent colour and logo of the people's pages
    pages: PageLook = field(default_factory=PageLook)
    # how long a consent is valid before it is asked again (stated on every receipt)
    consent_valid_days: int = DEFAULT_CONSENT_VALID_DAYS
    tcf: TcfMapping = field(default_factory=TcfMapping)
    gpp: GppMapping = field(default_factory=GppMapping)
    # the categories of data subjects (GDPR Art. 30(1)(c)); a purpose may name its own
    data_subjects: tuple[str, ...] = ()
    # a general description of the security measures (GDPR Art. 30(1)(g), 32)
    # (left out of the file: the shipped policy's, which describe what Consentry does)
    security_measures: tuple[str, ...] = ()
    source: str = field(compare=False, default="")
    digest: str = field(compare=False, default="")

    def allows_page_url(self, url: str) -> bool:
        """Whether `url` is an absolute http(s) URL on one of `page_origins` (where the
        people's pages may send a person back to)."""
        try:
            parsed = urlsplit(url)
            port = parsed.port
        except ValueError:
            return False
        if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.username \
                or parsed.password is not None:
            return False
        return _origin_key(parsed.scheme, parsed.hostname, port) in {
            _origin_key(o.scheme, o.hostname or "", o.port)
            for o in map(urlsplit, self.page_origins)}

    def data_subjects_of(self, purpose: str) -> tuple[str, ...]:
        """The categories of data subjects of `purpose`: its own, else the policy's."""
        return self.purposes[purpose].data_subjects or self.data_subjects

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

    def signal_limits(self, categories) -> dict[str, dict[str, int | None]]:
        """The signal-age limits of those `categories` whose policy sets any."""
        limits = {}
        for cid in categories:
            category = self.categories.get(cid)
            if category is not None and (category.max_signal_age_days is not None
                                         or category.decay_after_days is not None):
                limits[cid] = {"max_signal_age_days": category.max_signal_age_days,
                               "decay_after_days": category.decay_after_days}
        return limits

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
            "controller": (self.controller if self.controller_contact is None
                           else _controller_dict(self.controller, self.controller_contact)),
            "policy_url": self.policy_url,
            "default_jurisdiction": self.default_jurisdiction,
            "token_max_age_seconds": self.token_max_age_seconds,
        }
        if self.consent_valid_days != (self.consent_max_age_days or DEFAULT_CONSENT_VALID_DAYS):
            data["consent_valid_days"] = self.consent_valid_days  # else derived on load
        if self.preference_center_url:
            data["preference_center_url"] = self.preference_center_url
        if self.page_origins:
            data["page_origins"] = list(self.page_origins)
        if self.consent_max_age_days is not None:
            data["consent_max_age_days"] = self.consent_max_age_days
        if self.surfaces:
            data["surfaces"] = list(self.surfaces)
        look = {k: v for k, v in (("brand_name", self.pages.brand_name),
                                  ("accent_color", self.pages.accent_color),
                                  ("logo_file", self.pages.logo_file)) if v is not None}
        if look:
            data["pages"] = look
        if self.dpia_large_scale_subjects is not None:
            data["dpia_large_scale_subjects"] = self.dpia_large_scale_subjects
        if self.default_notice is not None:
            data["default_notice"] = self.default_notice
        if self.data_subjects:
            data["data_subjects"] = list(self.data_subjects)
        data["security_measures"] = list(self.security_measures)
        data["purposes"] = {
            p.id: {"label": p.label, "description": p.description, "labels": dict(p.labels),
                   "descriptions": dict(p.descriptions), **({"dpv": p.dpv} if p.dpv else {}),
                   **({"per_channel": True} if p.per_channel else {}),
                   **({"data_subjects": list(p.data_subjects)} if p.data_subjects else {})}
            for p in self.purposes.values()
        }
        data["channels"] = dict(self.channels)
        data["categories"] = {c.id: _category_dict(c) for c in self.categories.values()}
        data["jurisdictions"] = {
            j.id: {"label": j.label, "gpc": j.gpc,
                   "sale_sharing_purposes": list(j.sale_sharing_purposes),
                   "basis": dict(j.basis), "request_due": j.request_due.text,
                   "request_extension": j.request_extension.text,
                   "law": j.law or NO_LAW}
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
        if self.consent_mode is not None:
            data["consent_mode"] = {name: rule.to_toml()
                                    for name, rule in self.consent_mode.items()}
        if self.recipients:
            data["recipients"] = [
                {k: v for k, v in {"id": r.id, "name": r.name, "role": r.role,
                                   "purposes": list(r.purposes),
                                   "categories": list(r.categories) or None,
                                   "country": r.country,
                                   "transfer_safeguard": r.transfer_safeguard,
                                   "sale_sharing": r.sale_sharing or None}.items()
                 if v is not None}
                for r in self.recipients]
        if self.tcf.purposes or self.tcf.special_features:
            data["tcf"] = {"purposes": {k: list(v) for k, v in self.tcf.purposes.items()},
                           "special_features": {str(k): v for k, v
                                                in self.tcf.special_features.items()}}
        if self.gpp.purposes or self.gpp.sensitive_data:
            data["gpp"] = {"purposes": list(self.gpp.purposes),
                           **{name: {"sensitive_data": {str(k): v for k, v in fields.items()}}
                              for name, fields in self.gpp.sensitive_data.items()}}
        return data

    def to_toml(self) -> str:
        """Return the policy as TOML that loads back to an equal policy."""
        return tomli_w.dumps(self.to_dict())


def _controller_dict(name: str, contact: ControllerContact) -> dict[str, Any]:
    """The `[controller]` table of a policy file."""
    address = {k: v for k, v in vars(contact.address).items() if v is not None}
    data: dict[str, Any] = {"name": name, "email": contact.email, "address": address}
    for key in ("phone", "url"):
        if getattr(contact, key) is not None:
            data[key] = getattr(contact, key)
    if contact.dpo_email is not None:
        data["dpo"] = {"email": contact.dpo_email,
                       **({"name": contact.dpo_name} if contact.dpo_name else {})}
    return data


def _email(value: Any, path: str) -> str:
    if not isinstance(value, str) or value.count("@") != 1 or value.startswith("@") \
            or value.endswith("@") or any(c.isspace() for c in value):
        raise PolicyError(f"{path}: expected an email address, got {value!r}")
    return value


def _controller(value: Any) -> tuple[str, ControllerContact | None]:
    """`controller`: a name alone, or a table with the contact details."""
    if isinstance(value, str):
        return value, None
    if not isinstance(value, dict):
        raise PolicyError(f"controller: expected a name or a table, got {type(value).__name__}")
    path = "controller."
    raw_address = _get(value, "address", path, dict)
    address = Address(_get(raw_address, "street", path + "address.", str),
                      _get(raw_address, "locality", path + "address.", str),
                      _get(raw_address, "country", path + "address.", str),
                      _get(raw_address, "postal_code", path + "address.", str, False))
    dpo = _get(value, "dpo", path, dict, False, None)
    contact = ControllerContact(
        email=_email(_get(value, "email", path, str), path + "email"),
        address=address,
        phone=_get(value, "phone", path, str, False),
        url=_get(value, "url", path, str, False),
        dpo_email=_email(_get(dpo, "email", path + "dpo.", str), path + "dpo.email")
        if dpo is not None else None,
        dpo_name=_get(dpo, "name", path + "dpo.", str, False) if dpo is not None else None)
    return _get(value, "name", path, str), contact


def _recipients(values: list, purposes: dict, categories: dict) -> tuple[Recipient, ...]:
    """Validate `[[recipients]]`: each an id, a name, a role and the policy purposes it serves;
    a recipient outside the EU/EEA names its transfer safeguard."""
    recipients = []
    seen: set[str] = set()
    for i, raw in enumerate(values):
        path = f"recipients.{i}."
        if not isinstance(raw, dict):
            raise PolicyError(f"recipients.{i}: expected a table")
        rid = _get(raw, "id", path, str)
        if not _RECIPIENT_ID.fullmatch(rid):
            raise PolicyError(f"{path}id: lowercase letters, digits, '_' and '-', starting "
                              f"with a letter, at most 64; got {rid!r}")
        if rid in seen:
            raise PolicyError(f"{path}id: {rid!r} names two recipients")
        seen.add(rid)
        role = _get(raw, "role", path, str)
        if role not in RECIPIENT_ROLES:
            raise PolicyError(f"{path}role: must be one of {', '.join(RECIPIENT_ROLES)}, "
                              f"got {role!r}")
        served = _get(raw, "purposes", path, list)
        for pid in served:
            if pid not in purposes:
                raise PolicyError(f"{path}purposes: unknown purpose {pid!r}")
        if not served:
            raise PolicyError(f"{path}purposes: name at least one purpose")
        received = _get(raw, "categories", path, list, False, [])
        for cid in received:
            if not isinstance(cid, str) or cid not in categories:
                raise PolicyError(f"{path}categories: unknown category {cid!r}")
        country = _get(raw, "country", path, str, False)
        if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
            raise PolicyError(f"{path}country: an ISO 3166-1 alpha-2 code such as 'DE', "
                              f"got {country!r}")
        recipient = Recipient(
            _get(raw, "name", path, str), role, tuple(served), country, id=rid,
            categories=tuple(received),
            transfer_safeguard=_get(raw, "transfer_safeguard", path, str, False),
            sale_sharing=_get(raw, "sale_sharing", path, bool, False, False))
        if recipient.third_country and not (recipient.transfer_safeguard or "").strip():
            raise PolicyError(f"{path}transfer_safeguard: {country} is outside the EU/EEA: "
                              "name the transfer's safeguard (GDPR Art. 46), such as "
                              "standard contractual clauses")
        recipients.append(recipient)
    return tuple(recipients)


def _category_dict(c: Category) -> dict[str, Any]:
    data: dict[str, Any] = {"label": c.label, "description": c.description,
                            "sensitivity": c.sensitivity, "retention_class": c.retention_class,
                            "labels": dict(c.labels), "control_labels": dict(c.control_labels),
                            "descriptions": dict(c.descriptions)}
    if c.not_for:
        data["not_for"] = list(c.not_for)
    if c.decay_after_days is not None:
        data["decay_after_days"] = c.decay_after_days
    if c.max_age_from_retention:
        data["max_signal_age_days"] = FROM_RETENTION
    elif c.max_signal_age_days is not None:
        data["max_signal_age_days"] = c.max_signal_age_days
    return data


def _signal_ages(raw: dict, path: str, rclass: str,
                 classes: dict[str, int | None]) -> tuple[int | None, int | None, bool]:
    """Validate a category's `decay_after_days` and `max_signal_age_days`."""
    decay = raw.get("decay_after_days")
    if decay is not None and (type(decay) is not int or decay <= 0):
        raise PolicyError(f"{path}decay_after_days: expected a positive number of days, "
                          f"got {decay!r}")
    max_age = raw.get("max_signal_age_days")
    from_retention = max_age == FROM_RETENTION
    if from_retention:
        max_age = classes[rclass]
        if max_age is None:
            raise PolicyError(f"{path}max_signal_age_days: {FROM_RETENTION!r} needs a retention "
                              f"class with a number of days ({rclass!r} is kept for the "
                              f"account's lifetime)")
    elif max_age is not None and (type(max_age) is not int or max_age <= 0):
        raise PolicyError(f"{path}max_signal_age_days: expected a positive number of days or "
                          f"{FROM_RETENTION!r}, got {max_age!r}")
    if decay is not None and max_age is not None and decay >= max_age:
        raise PolicyError(f"{path}decay_after_days: must be less than max_signal_age_days "
                          f"({decay} >= {max_age})")
    return decay, max_age, from_retention


def _consent_mode(raw: Any) -> dict[str, ConsentModeRule] | None:
    """Parse `[consent_mode]`: each of the seven fields "always", "never" or
    `{purpose, categories}` (ids are checked against the policy once it is built)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise PolicyError("consent_mode: expected a table")
    unknown = sorted(set(raw) - set(CONSENT_MODE_FIELDS))
    if unknown:
        raise PolicyError(f"consent_mode.{unknown[0]}: not a Consent Mode field (known: "
                          f"{', '.join(CONSENT_MODE_FIELDS)})")
    missing = [name for name in CONSENT_MODE_FIELDS if name not in raw]
    if missing:
        raise PolicyError(f"consent_mode: no rule for {', '.join(missing)}")
    rules = {}
    for name in CONSENT_MODE_FIELDS:
        value, path = raw[name], f"consent_mode.{name}"
        if value in (ALWAYS, NEVER):
            rules[name] = ConsentModeRule(fixed=value)
            continue
        if not isinstance(value, dict):
            raise PolicyError(f"{path}: expected {ALWAYS!r}, {NEVER!r} or a table "
                              f"{{ purpose = ..., categories = [...] }}, got {value!r}")
        extra = sorted(set(value) - {"purpose", "categories"})
        if extra:
            raise PolicyError(f"{path}.{extra[0]}: unknown key (expected purpose, categories)")
        purpose = _get(value, "purpose", path + ".", str)
        categories = _get(value, "categories", path + ".", list, False, [])
        for i, category in enumerate(categories):
            if not isinstance(category, str):
                raise PolicyError(f"{path}.categories.{i}: expected a category id")
        if len(categories) != len(set(categories)):
            raise PolicyError(f"{path}.categories: each category once")
        rules[name] = ConsentModeRule(purpose=purpose, categories=tuple(categories))
    return rules


def _check_consent_mode(policy: Policy) -> None:
    """Every purpose and category `[consent_mode]` names must be the policy's."""
    for name, rule in (policy.consent_mode or {}).items():
        if rule.fixed is not None:
            continue
        fields = policy.unknown_ids(f"consent_mode.{name}.", purpose=rule.purpose)
        for i, category in enumerate(rule.categories):
            fields.update({f"consent_mode.{name}.categories.{i}": messages for messages in
                           policy.unknown_ids(category=category).values()})
        for key, messages in fields.items():
            raise PolicyError(f"{key}: {messages[0]}")


def _texts(raw: dict, key: str, path: str) -> tuple[str, ...]:
    """An optional list of distinct, non-empty sentences (`data_subjects`, ...)."""
    values = _get(raw, key, path, list, False, None)
    if values is None:
        return ()
    if not values:
        raise PolicyError(f"{path}{key}: name at least one, or leave the key out")
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            raise PolicyError(f"{path}{key}.{i}: expected a non-empty string, got {value!r}")
    if len(values) != len(set(values)):
        raise PolicyError(f"{path}{key}: each entry once")
    return tuple(values)


@functools.cache
def shipped_security_measures() -> tuple[str, ...]:
    """What Consentry itself does to secure the data it holds (GDPR Art. 32), as the
    shipped policy describes it: a policy that describes no measures gets these."""
    data = tomllib.loads(_shipped_text())
    return tuple(data["security_measures"])


def _shipped_text() -> str:
    return resources.files("consentry").joinpath("default_policy.toml").read_text("utf-8")


def _law(raw: dict, jid: str, path: str) -> str | None:
    """A jurisdiction's `law` (LAW_WORDS, or "none"); left out, the one its id names: the
    GDPR for `EU`, `EEA` and their states, the UK GDPR for `GB`/`UK`, the CCPA for `US-CA`."""
    law = _get(raw, "law", path, str, False, None)
    if law is None:
        if jid in ("EU", "EEA") or jid in EEA_COUNTRIES:
            return "gdpr"
        return {"GB": "uk_gdpr", "UK": "uk_gdpr", "US-CA": "ccpa"}.get(jid)
    known = [k for k in LAW_WORDS if k is not None]
    if law != NO_LAW and law not in known:
        raise PolicyError(f"{path}law: must be one of {', '.join([*known, NO_LAW])}, "
                          f"got {law!r}")
    return None if law == NO_LAW else law


def _duration(raw: dict, key: str, path: str, default: Duration) -> Duration:
    text = _get(raw, key, path, str, False, None)
    if text is None:
        return default
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise PolicyError(f"{path}{key}: {exc}") from exc


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


def _origin_key(scheme: str, host: str, port: int | None) -> tuple[str, str, int | None]:
    """An origin compared as browsers do: host case-insensitive, default port implied."""
    default = {"http": 80, "https": 443}.get(scheme)
    return scheme, host.lower(), None if port == default else port


def _page_look(raw: dict, source: str) -> PageLook:
    """Validate `[pages]`: a brand name, an accent colour with AA contrast on the pages'
    background, and a logo file (relative to the policy file) the service serves itself."""
    unknown = sorted(set(raw) - {"brand_name", "accent_color", "logo_file"})
    if unknown:
        raise PolicyError(f"pages.{unknown[0]}: unknown key")
    brand = _get(raw, "brand_name", "pages.", str, False)
    if brand is not None and not 0 < len(brand.strip()) <= 100:
        raise PolicyError("pages.brand_name: expected 1 to 100 characters")
    accent = _get(raw, "accent_color", "pages.", str, False)
    if accent is not None:
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", accent):
            raise PolicyError(f"pages.accent_color: expected a colour such as #1a5fb4, "
                              f"got {accent!r}")
        accent = accent.lower()
        ratio = contrast_ratio(accent, PAGE_BACKGROUND)
        if ratio < MIN_ACCENT_CONTRAST:
            raise PolicyError(f"pages.accent_color: {accent} has a contrast of {ratio:.2f}:1 "
                              f"with the page background {PAGE_BACKGROUND}; at least "
                              f"{MIN_ACCENT_CONTRAST}:1 is needed (WCAG 2.1 AA)")
    logo = _get(raw, "logo_file", "pages.", str, False)
    logo_path = None
    if logo is not None:
        base = Path(source).parent if source and not source.startswith("(") else Path.cwd()
        logo_path = (base / logo).resolve()
        if logo_path.suffix.lower() not in LOGO_TYPES:
            raise PolicyError(f"pages.logo_file: must be one of "
                              f"{', '.join(sorted(LOGO_TYPES))}, got {logo!r}")
        try:
            size = logo_path.stat().st_size if logo_path.is_file() else None
        except OSError:
            size = None
        if size is None:
            raise PolicyError(f"pages.logo_file: no such file {logo!r} next to the policy")
        if size > MAX_LOGO_BYTES:
            raise PolicyError(f"pages.logo_file: larger than {MAX_LOGO_BYTES // 1024} KiB")
    return PageLook(brand.strip() if brand else None, accent, logo, logo_path)


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
                                _str_map(raw.get("labels", {}), path + "labels"),
                                _str_map(raw.get("descriptions", {}), path + "descriptions"),
                                _get(raw, "dpv", path, str, False),
                                _get(raw, "per_channel", path, bool, False, False),
                                _texts(raw, "data_subjects", path))
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
        decay, max_age, from_retention = _signal_ages(raw, path, rclass, classes)
        not_for = _get(raw, "not_for", path, list, False, [])
        for pid in not_for:
            if not isinstance(pid, str) or pid not in purposes:
                raise PolicyError(f"{path}not_for: unknown purpose {pid!r}")
        if len(not_for) != len(set(not_for)):
            raise PolicyError(f"{path}not_for: purposes must be unique")
        categories[cid] = Category(cid, _get(raw, "label", path, str),
                                   _get(raw, "description", path, str, False, ""),
                                   sensitivity, rclass,
                                   _str_map(raw.get("labels", {}), path + "labels"),
                                   _str_map(raw.get("control_labels", {}),
                                            path + "control_labels"),
                                   _str_map(raw.get("descriptions", {}), path + "descriptions"),
                                   decay, max_age, from_retention, tuple(not_for))
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
        jurisdictions[jid] = Jurisdiction(
            jid, _get(raw, "label", path, str, False, jid), basis,
            _get(raw, "gpc", path, bool, False, True), tuple(sale),
            _duration(raw, "request_due", path, DEFAULT_REQUEST_DUE),
            _duration(raw, "request_extension", path, DEFAULT_REQUEST_EXTENSION),
            _law(raw, jid, path))
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
    large_scale = _get(data, "dpia_large_scale_subjects", "", int, False)
    if large_scale is not None and large_scale <= 0:
        raise PolicyError("dpia_large_scale_subjects: must be positive (a number of subjects)")
    surfaces = _get(data, "surfaces", "", list, False, [])
    for i, surface in enumerate(surfaces):
        if not isinstance(surface, str) or not surface:
            raise PolicyError(f"surfaces.{i}: expected a non-empty string, got {surface!r}")
    if len(surfaces) != len(set(surfaces)):
        raise PolicyError("surfaces: names must be unique")
    default_notice = _get(data, "default_notice", "", str, False)
    if default_notice is not None and not is_notice_id(default_notice):
        raise PolicyError(f"default_notice: {NOTICE_ID_RULE}, got {default_notice!r}")
    valid_days = _get(data, "consent_valid_days", "", int, False,
                      max_age or DEFAULT_CONSENT_VALID_DAYS)
    if valid_days <= 0:
        raise PolicyError("consent_valid_days: must be a positive number of days")
    if max_age is not None and valid_days > max_age:
        raise PolicyError(f"consent_valid_days: must not exceed consent_max_age_days "
                          f"({valid_days} > {max_age}): the gate stops honouring a grant then")
    controller, contact = _controller(data.get("controller", ""))
    policy = Policy(
        tcf=_tcf_mapping(_get(data, "tcf", "", dict, False, {}), purposes, categories),
        gpp=_gpp_mapping(_get(data, "gpp", "", dict, False, {}), purposes, categories),
        version=version,
        controller=controller,
        controller_contact=contact,
        recipients=_recipients(_get(data, "recipients", "", list, False, []), purposes,
                               categories),
        consent_valid_days=valid_days,
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
        pages=_page_look(_get(data, "pages", "", dict, False, {}), source),
        dpia_large_scale_subjects=large_scale,
        default_notice=default_notice,
        consent_mode=_consent_mode(data.get("consent_mode")),
        data_subjects=_texts(data, "data_subjects", ""),
        security_measures=(_texts(data, "security_measures", "")
                           or shipped_security_measures()),
        source=source,
    )
    _check_consent_mode(policy)
    digest = hashlib.sha256(policy.to_toml().encode()).hexdigest()
    return dataclasses.replace(policy, digest=digest)


def _numbered(raw: dict, path: str, allowed: range, what: str) -> dict[int, Any]:
    """A table keyed by numbers (`1 = ...`), each within `allowed`."""
    out = {}
    for key, value in raw.items():
        if not key.isdigit() or int(key) not in allowed:
            raise PolicyError(f"{path}.{key}: not a {what} ({allowed.start}-{allowed.stop - 1})")
        out[int(key)] = value
    return out


def _category_id(value: Any, path: str, categories: dict) -> str:
    if not isinstance(value, str) or value not in categories:
        raise PolicyError(f"{path}: unknown category {value!r}")
    return value


def _tcf_mapping(raw: dict, purposes: dict, categories: dict) -> TcfMapping:
    """Validate `[tcf]`: `purposes` (policy purpose → TCF purposes 1-11) and
    `special_features` (TCF special feature 1-2 → category)."""
    unknown = sorted(set(raw) - {"purposes", "special_features"})
    if unknown:
        raise PolicyError(f"tcf.{unknown[0]}: unknown key (known: purposes, special_features)")
    mapped = {}
    for pid, tcf_ids in _get(raw, "purposes", "tcf.", dict, False, {}).items():
        path = f"tcf.purposes.{pid}"
        if pid not in purposes:
            raise PolicyError(f"{path}: unknown purpose")
        if (not isinstance(tcf_ids, list) or not tcf_ids
                or not all(type(i) is int and i in TCF_PURPOSES for i in tcf_ids)
                or len(set(tcf_ids)) != len(tcf_ids)):
            raise PolicyError(f"{path}: expected a non-empty list of distinct TCF purposes "
                              f"(1-11), got {tcf_ids!r}")
        mapped[pid] = tuple(tcf_ids)
    features = {number: _category_id(cid, f"tcf.special_features.{number}", categories)
                for number, cid in _numbered(_get(raw, "special_features", "tcf.", dict, False,
                                                  {}),
                                             "tcf.special_features", TCF_SPECIAL_FEATURES,
                                             "TCF special feature").items()}
    return TcfMapping(mapped, features)


def _gpp_mapping(raw: dict, purposes: dict, categories: dict) -> GppMapping:
    """Validate `[gpp]`: `purposes` (policy purposes) and, per section (`usnat`,
    `usca`), `sensitive_data` (SensitiveDataProcessing field → category)."""
    unknown = sorted(set(raw) - {"purposes", *GPP_SENSITIVE_FIELDS})
    if unknown:
        raise PolicyError(f"gpp.{unknown[0]}: unknown key (known: purposes, "
                          f"{', '.join(GPP_SENSITIVE_FIELDS)})")
    chosen = _get(raw, "purposes", "gpp.", list, False, [])
    for pid in chosen:
        if pid not in purposes:
            raise PolicyError(f"gpp.purposes: unknown purpose {pid!r}")
    sensitive = {}
    for section, allowed in GPP_SENSITIVE_FIELDS.items():
        table = _get(raw, section, "gpp.", dict, False, None)
        if table is None:
            continue
        extra = sorted(set(table) - {"sensitive_data"})
        if extra:
            raise PolicyError(f"gpp.{section}.{extra[0]}: unknown key (known: sensitive_data)")
        path = f"gpp.{section}.sensitive_data"
        fields = _numbered(_get(table, "sensitive_data", f"gpp.{section}.", dict), path,
                           allowed, f"{section} SensitiveDataProcessing field")
        sensitive[section] = {number: _category_id(cid, f"{path}.{number}", categories)
                              for number, cid in sorted(fields.items())}
    if sensitive and not chosen:
        raise PolicyError("gpp.purposes: name the purposes the sensitive-data answers apply to")
    return GppMapping(tuple(chosen), sensitive)


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and validate the policy at `path`, or the shipped default."""
    if path is None:
        text = _shipped_text()
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
