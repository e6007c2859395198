"""Import every model module, so Base.metadata describes the whole schema."""

from __future__ import annotations

from sqlalchemy import MetaData


def all_metadata() -> MetaData:
    """Return the metadata of every Consentry table."""
    import audit.models  # noqa: F401
    import consent.models  # noqa: F401
    import consentry.models  # noqa: F401
    import console.models  # noqa: F401
    import governance.models  # noqa: F401
    import retention.models  # noqa: F401
    import webhooks.models  # noqa: F401
    from consentry.db import Base

    return Base.metadata
