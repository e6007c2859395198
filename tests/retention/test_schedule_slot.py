"""The schedule slot a purge belongs to: what makes a slot run once across schedulers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from retention.jobs import schedule_slot


@pytest.mark.parametrize("spec,now,slot", [
    ("0 3 * * *", datetime(2026, 11, 28, 3, 0, 0, 200_000, tzinfo=UTC),
     datetime(2026, 11, 28, 3, 0, tzinfo=UTC)),
    ("0 3 * * *", datetime(2026, 11, 28, 3, 4, 59, tzinfo=UTC),  # a late (misfired) start
     datetime(2026, 11, 28, 3, 0, tzinfo=UTC)),
    ("0 3 * * *", datetime(2026, 11, 28, 2, 59, 59, 500_000, tzinfo=UTC),  # a hair early
     datetime(2026, 11, 28, 3, 0, tzinfo=UTC)),
    ("0 0 1 * *", datetime(2026, 11, 28, 3, 0, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)),
    ("*/5 * * * *", datetime(2026, 11, 28, 3, 7, tzinfo=UTC),
     datetime(2026, 11, 28, 3, 5, tzinfo=UTC)),
    ("interval:2", datetime(2026, 11, 28, 3, 0, 1, tzinfo=UTC),
     datetime(2026, 11, 28, 3, 0, 0, tzinfo=UTC)),
])
def test_every_scheduler_computes_the_same_slot(spec, now, slot):
    assert schedule_slot(spec, now) == slot
