"""A scheduler process for tests: the app from the environment plus a slow own store.

The store deletes five rows of table `slow` (at SLOW_STORE_URL) per batch and sleeps
between batches, so a test can kill the process half-way through a run.
"""

from __future__ import annotations

import os
import time

from sqlalchemy import create_engine, text

from consentry import create_app
from consentry.scheduler import run_scheduler
from consentry.stores import BatchResult, Store, register_store


def main() -> None:
    app = create_app()
    engine = create_engine(os.environ["SLOW_STORE_URL"])

    def purge(session, cutoffs, held, limit, dry_run):
        time.sleep(0.3)
        with engine.begin() as conn:
            ids = conn.execute(text("SELECT id FROM slow ORDER BY id LIMIT 5")).scalars().all()
            for row_id in ids:
                conn.execute(text("DELETE FROM slow WHERE id = :id"), {"id": row_id})
        return BatchResult(matched=len(ids), deleted=len(ids), done=len(ids) < 5)

    register_store(app, Store("slow", purge, lambda session, subject_id, held: BatchResult()))
    run_scheduler(app)


if __name__ == "__main__":
    main()
