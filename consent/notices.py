"""Privacy notices: each version as recorded, the version a consent write names, and
whether a person should be asked to consent again.

A version is never changed once recorded; a version recorded later is newer (the
table's `id` orders them, whatever the version strings look like). A consent write names
the version the person saw as `notice_version`: "<notice_id>@<version>", or a bare
version of the policy's `default_notice`. Once any notice is recorded, a named version
must exist and is stored as "<notice_id>@<version>"; before that, any text is kept as
sent (as it always was).

`reconsent_needed` is true when the subject's latest choice that named a notice was made
under an older version than the newest material version of that notice (or, when no
choice named one, of the default notice). A subject with no choice at all never needs
to consent again; nor does anyone while no material version is recorded.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit.service import append_entry
from consent.models import ConsentEvent, Notice
from consentry.db import transaction_notes
from consentry.errors import Conflict, Invalid, NotFound
from consentry.fields import NOTICE_ID_RULE, is_notice_id, is_notice_version
from consentry.policy import Policy
from consentry.secretstore import SecretStore

CONTENT = ("url", "sha256", "material")


def check_notice_id(notice_id: str) -> None:
    """A 422 for a notice id outside the rule."""
    if not is_notice_id(notice_id):
        raise Invalid("Invalid notice id.", fields={"notice_id": [NOTICE_ID_RULE]})


def notice_view(row: Notice) -> dict:
    """A recorded notice version as the API shows it."""
    return {"notice_id": row.notice_id, "version": row.version, "url": row.url,
            "sha256": row.sha256, "material": row.material, "recorded_at": row.recorded_at,
            "recorded_by": row.recorded_by}


def _version(session: Session, notice_id: str, version: str) -> Notice | None:
    return session.scalars(select(Notice).where(Notice.notice_id == notice_id,
                                                Notice.version == version)).first()


def record_notice(session: Session, keys: SecretStore, notice_id: str, data: dict, actor: str,
                  now: datetime) -> tuple[Notice, bool]:
    """Record a version of a notice (audited `notice.recorded`); return it and whether it
    is new. The same version again with the same url, sha256 and material changes
    nothing; with any of them different it is a conflict: a recorded version is final."""
    check_notice_id(notice_id)
    existing = _version(session, notice_id, data["version"])
    if existing is None:
        try:
            with session.begin_nested():
                session.execute(insert(Notice).values(
                    notice_id=notice_id, version=data["version"], url=data["url"],
                    sha256=data["sha256"], material=data["material"], recorded_at=now,
                    recorded_by=actor))
        except IntegrityError:  # recorded at the same time by another request
            existing = _version(session, notice_id, data["version"])
        else:
            note_recorded(session, True)
            append_entry(session, keys, "notice.recorded", actor=actor, details={
                "notice_id": notice_id, "version": data["version"], "url": data["url"],
                "sha256": data["sha256"], "material": data["material"]})
            return _version(session, notice_id, data["version"]), True
    if existing is None or any(getattr(existing, k) != data[k] for k in CONTENT):
        raise Conflict(f"Version {data['version']!r} of notice {notice_id!r} is recorded with "
                       f"another url, sha256 or material flag; a recorded version never "
                       f"changes: record the new text as a new version.")
    return existing, False


def get_notice(session: Session, notice_id: str) -> dict:
    """Every version of a notice, oldest first, with its newest and newest material one."""
    rows = (list(session.scalars(select(Notice).where(Notice.notice_id == notice_id)
                                 .order_by(Notice.id)))
            if is_notice_id(notice_id) else [])
    if not rows:
        raise NotFound("No such notice.")
    return _notice(rows)


def list_notices(session: Session) -> list[dict]:
    """Every notice with its versions, by notice id."""
    by_notice: dict[str, list[Notice]] = {}
    for row in session.scalars(select(Notice).order_by(Notice.id)):
        by_notice.setdefault(row.notice_id, []).append(row)
    return [_notice(rows) for _, rows in sorted(by_notice.items())]


def _notice(rows: list[Notice]) -> dict:
    material = [r for r in rows if r.material]
    return {"notice_id": rows[0].notice_id, "latest_version": rows[-1].version,
            "latest_material_version": material[-1].version if material else None,
            "versions": [notice_view(r) for r in rows]}


# Whether any notice version is recorded, as a column a statement of the caller's may carry
# (a consent write's read of the subject's state does: `note_recorded`), so the answer's
# notice status costs no statement of its own.
RECORDED = select(Notice.id).exists()
_NOTES = "consentry.notices"  # transaction_notes: {"recorded": whether any notice is}


def note_recorded(session: Session, recorded: bool) -> None:
    """Keep, for the rest of the session's transaction, whether any notice version is
    recorded, as a statement of this transaction read it (`RECORDED`).

    Only for the transaction: another worker may record the first notice at any moment,
    so a "no" is not kept longer; a new transaction (or the retry of one) asks again."""
    transaction_notes(session, _NOTES)["recorded"] = recorded


def any_notice(session: Session) -> bool:
    """Whether any notice version is recorded at all (once a transaction: `note_recorded`)."""
    notes = transaction_notes(session, _NOTES)
    if "recorded" not in notes:
        notes["recorded"] = bool(session.scalar(select(RECORDED)))
    return notes["recorded"]


def split_version(policy: Policy, value: str) -> tuple[str | None, str]:
    """(notice id, version) of a `notice_version`: "<id>@<version>", or a bare version of
    the policy's default notice (None when the policy has none)."""
    notice_id, at, version = value.partition("@")
    return (notice_id, version) if at else (policy.default_notice, value)


_FOUND = "consentry.notice_versions"  # session.info: the versions found in this session


def find_version(session: Session, policy: Policy, value: str) -> Notice | None:
    """The recorded version a `notice_version` names, or None.

    Looked up once a session: a consent write checks the version it names and its receipt
    then states it. A committed version never changes or goes, so a found one is kept
    (also over a retried transaction); a missing one is asked for again."""
    notice_id, version = split_version(policy, value)
    if notice_id is None or not is_notice_id(notice_id) or not is_notice_version(version):
        return None
    found = session.info.setdefault(_FOUND, {})
    row = found.get((notice_id, version))
    if row is None:
        row = _version(session, notice_id, version)
        if row is not None:
            found[(notice_id, version)] = row
    return row


def recorded_version(session: Session, policy: Policy, value: object) -> str | None:
    """"<notice_id>@<version>" of the recorded version `value` names, else None (also for
    anything that is not a short string, as a form field may be)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    row = find_version(session, policy, value)
    return f"{row.notice_id}@{row.version}" if row is not None else None


def resolve_notice_version(session: Session, policy: Policy, value: str | None,
                           field: str = "notice_version") -> str | None:
    """The `notice_version` a consent write stores: None for none; as sent while no notice
    is recorded; else "<notice_id>@<version>" of a recorded version, or a 422 on `field`."""
    if value is None or not any_notice(session):
        return value
    row = find_version(session, policy, value)
    if row is None:
        notice_id, version = split_version(policy, value)
        if notice_id is None:
            why = (f"Name the notice as <notice_id>@<version> (the policy has no "
                   f"default_notice for a bare {value!r}).")
        else:
            why = (f"No version {version!r} of notice {notice_id!r} is recorded "
                   f"(PUT /v1/notices/{{notice_id}} records one).")
        raise Invalid("The consent names a notice version that is not recorded.",
                      fields={field: [why]})
    return f"{row.notice_id}@{row.version}"


def notice_status(session: Session, policy: Policy, subject_id: str,
                  at: datetime | None = None) -> dict:
    """`reconsent_needed` for the subject (now, or as of `at`), and `notice`: the newest
    version of the notice in question (None when there is none)."""
    if not any_notice(session):  # the common case before notices are used
        return {"reconsent_needed": False, "notice": None}
    seen_value = _latest_choice(session, subject_id, at)
    seen = (find_version(session, policy, seen_value)
            if isinstance(seen_value, str) else None)
    notice_id = seen.notice_id if seen is not None else policy.default_notice
    if notice_id is None:
        return {"reconsent_needed": False, "notice": None}
    versions = select(Notice).where(Notice.notice_id == notice_id)
    if at is not None:
        versions = versions.where(Notice.recorded_at <= at)
    newest = session.scalars(versions.order_by(Notice.id.desc()).limit(1)).first()
    material = session.scalars(versions.where(Notice.material.is_(True))
                               .order_by(Notice.id.desc()).limit(1)).first()
    needed = (seen_value is not _NO_CHOICE and material is not None
              and (seen is None or seen.id < material.id))
    return {"reconsent_needed": needed,
            "notice": notice_view(newest) if newest is not None else None}


_NO_CHOICE = object()


def _latest_choice(session: Session, subject_id: str, at: datetime | None):
    """The `notice_version` of the subject's latest choice that named one; None if no
    choice named one; `_NO_CHOICE` if the subject made no choice at all."""
    query = (select(ConsentEvent.notice_version)
             .where(ConsentEvent.subject_id == subject_id, ConsentEvent.kind == "choice"))
    if at is not None:
        query = query.where(ConsentEvent.received_at <= at)
    # Choices that named a notice first, then the newest: one row answers both questions.
    rows = session.execute(query.order_by(ConsentEvent.notice_version.is_(None),
                                          ConsentEvent.id.desc()).limit(1)).first()
    return _NO_CHOICE if rows is None else rows[0]
