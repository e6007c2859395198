"""How long a write transaction holds SQLite's write lock, measured in this process.

`LockHeld(engine)` times every write transaction from the moment BEGIN IMMEDIATE has the
lock (a `begin` listener registered after the engine's own, which takes it) to the
moment its commit has returned (the session's `after_commit`), in wall and CPU time.
The wall time is what caps writes: while one transaction holds the lock no other
writer runs, so writes/s can never pass 1 / (mean wall time held). The CPU time is the
part of it the code spends, which carries across a shared machine's runs.
"""

from __future__ import annotations

import statistics
import time

from sqlalchemy import event
from sqlalchemy.orm import Session

from consentry.db import write_intent


class LockHeld:
    def __init__(self, engine):
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self._start: tuple[float, float] | None = None
        event.listen(engine, "begin", self._begin)
        event.listen(Session, "after_commit", self._committed)
        self._engine = engine

    def _begin(self, conn) -> None:
        write = conn.get_execution_options().get("consentry_write")
        if write is None:
            write = write_intent.get()
        if write:
            self._start = (time.perf_counter(), time.process_time())

    def _committed(self, _session) -> None:
        if self._start is not None:
            wall, cpu = self._start
            self.wall.append(time.perf_counter() - wall)
            self.cpu.append(time.process_time() - cpu)
            self._start = None

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()

    def close(self) -> None:
        event.remove(self._engine, "begin", self._begin)
        event.remove(Session, "after_commit", self._committed)

    def summary(self) -> str:
        if not self.wall:
            return "no write transaction committed"
        wall = 1000 * statistics.fmean(self.wall)
        cpu = 1000 * statistics.fmean(self.cpu)
        return (f"write lock held {wall:.2f} ms wall ({cpu:.2f} ms of it CPU) a transaction, "
                f"{len(self.wall)} transactions: at most {1000 / wall:,.0f} writes/s "
                f"however many workers")
