"""Record which policy is in force, auditing every change of version."""

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
    """Audit the policy if its version differs from the last one seen; True if it did."""
    state = session.execute(
        select(PolicyState).where(PolicyState.id == 1).with_for_update()
    ).scalar_one_or_none()
    if state is not None and state.version == policy.version:
        return False
    old = state.version if state else None
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
                 details={"old_version": old, "new_version": policy.version,
                          "digest": policy.digest, "source": policy.source})
    return True
