"""Record which policy is in force, auditing every change of its content."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit.models import PolicyState
from audit.service import append_entry
from consentry.clock import utcnow
from consentry.policy import Policy
from consentry.secretstore import SecretStore


def record_policy_loaded(session: Session, keys: SecretStore, policy: Policy) -> bool:
    """Audit the policy if its digest differs from the last one seen; True if it did.

    The digest, not the version, decides: a policy edited without a new version is a
    change too. The entry names versions and digests only, never where the file lives.
    """
    state = session.execute(
        select(PolicyState).where(PolicyState.id == 1).with_for_update()
    ).scalar_one_or_none()
    if state is not None and state.digest == policy.digest:
        return False
    old_version, old_digest = (state.version, state.digest) if state else (None, None)
    if state is None:
        try:
            with session.begin_nested():
                session.add(PolicyState(id=1, version=policy.version, digest=policy.digest,
                                        loaded_at=utcnow()))
        except IntegrityError:  # another process recorded it first
            return False
    else:
        state.version, state.digest, state.loaded_at = policy.version, policy.digest, utcnow()
    append_entry(session, keys, "policy.loaded",
                 details={"old_version": old_version, "new_version": policy.version,
                          "old_digest": old_digest, "digest": policy.digest})
    return True
