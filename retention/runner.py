"""Carrying out runs and erasures: the job side, which owns every transaction.

A run walks its targets one by one; each batch is its own short transaction on the
target, and progress is stored on the run as it goes. Only the holder of the
`retention:runner` lease carries out runs and erasures, so there is one runner at a
time across processes and hosts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from consentry import leases
from consentry.clock import utcnow
from consentry.db import get_db
from consentry.policy import RetentionTarget, get_policy
from consentry.secretstore import get_keys
from consentry.stores import Held, registered_stores
from retention import service, targets
from retention.models import Erasure, RetentionRun

log = logging.getLogger("consentry.retention")

RUNNER_LEASE = "retention:runner"

# Called with (target name, its report entry) whenever a target makes progress.
Progress = Callable[[str, dict[str, Any]], None]


class Runner:
    """One holder of the runner lease, renewing it while it works."""

    def __init__(self, app: Flask, holder: str, job_lease: str | None = None,
                 job_holder: str | None = None):
        self.app = app
        self.policy = get_policy(app)
        self.keys = get_keys(app)
        self.stores = registered_stores(app)
        self.known_targets = service.target_names(self.policy, list(self.stores))
        self.holder = holder
        self.job_lease = job_lease
        self.job_holder = job_holder
        self.db = get_db(app)
        self.ttl = float(app.config["RETENTION_LEASE_SECONDS"])
        self._last_save = 0.0

    def acquire(self) -> bool:
        return self.db.run(lambda session: leases.acquire(session, RUNNER_LEASE, self.holder,
                                                          self.ttl))

    def release(self) -> None:
        self.db.run(lambda session: leases.release(session, RUNNER_LEASE, self.holder))

    def _renew(self, session) -> None:
        if not leases.acquire(session, RUNNER_LEASE, self.holder, self.ttl):
            raise RuntimeError("lost the retention runner lease")
        if self.job_lease and self.job_holder:
            leases.acquire(session, self.job_lease, self.job_holder, self.ttl)

    # -- queue -------------------------------------------------------------------------

    def process_queue(self, budget_seconds: float = 3600) -> int:
        """Recover dead work, then carry out queued erasures and runs; return how many."""
        done = 0
        started = time.monotonic()
        with self.db.transaction() as session:
            abandoned = service.abandon_dead_work(session, self.keys, self.known_targets)
            service.release_erasures(session, self.keys, utcnow())  # holds that ended
        for run_id in abandoned:
            log.warning("run %s abandoned by a dead runner; a new run resumes it", run_id)
        while time.monotonic() - started < budget_seconds:
            done += self.carry_out_erasures()
            with self.db.transaction() as session:
                run = service.claim_run(session, self.holder)
            if run is None:
                break
            self._carry_out(self.execute_run, service.fail_run, RetentionRun, run.id)
            done += 1
        return done

    def carry_out_erasures(self) -> int:
        """Carry out every queued erasure, oldest first; return how many.

        Called before each run and between the batches of a run (with its progress), so
        an erasure never waits for a purge to finish.
        """
        done = 0
        while True:
            with self.db.transaction() as session:
                erasure = service.claim_erasure(session, self.holder)
            if erasure is None:
                return done
            self._carry_out(self.execute_erasure, service.fail_erasure, Erasure, erasure.id)
            done += 1

    def _carry_out(self, execute, fail, model, work_id: str) -> None:
        """Carry out claimed work; if it breaks, log it and close it as failed."""
        try:
            execute(work_id)
        except Exception as exc:
            log.exception("%s %s failed", model.__tablename__, work_id)
            with self.db.transaction() as session:
                fail(session, self.keys, session.get(model, work_id),
                     f"{type(exc).__name__}: {exc}"[:500])

    # -- runs --------------------------------------------------------------------------

    def execute_run(self, run_id: str, progress: Progress | None = None) -> RetentionRun:
        """Carry out a claimed run over its targets; return it finished."""
        policy, stores = self.policy, self.stores
        with self.db.transaction() as session:
            run = session.get(RetentionRun, run_id)
            assert run is not None and run.status == "running"
            names = run.targets or self.known_targets
            cutoffs, held, _holds = service.start_run(session, policy, run, names)
            self._renew(session)
            report = run.report
            dry_run = run.dry_run
        external = {t.name: t for t in policy.retention_targets}
        for name in names:
            entry = report["targets"][name]
            entry["status"] = "running"
            started = time.monotonic()
            try:
                if name in stores:
                    self._purge_store(run_id, report, name, stores[name], cutoffs, held, dry_run,
                                      progress)
                elif name in external:
                    self._purge_external(run_id, report, external[name], policy, cutoffs, held,
                                         dry_run, progress)
                else:
                    raise targets.TargetError("target is no longer in the policy")
                if entry["status"] == "running":
                    entry["status"] = "succeeded"
            except targets.TargetError as exc:
                entry.update(status="failed", error=str(exc))
            except SQLAlchemyError as exc:
                entry.update(status="failed", error=_db_error(exc))
                log.warning("retention target %s failed", name, exc_info=True)
            except Exception as exc:  # a broken store must not stop the other targets
                entry.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:500])
                log.exception("retention target %s failed", name)
            entry["seconds"] = round(time.monotonic() - started, 3)
            self._save(run_id, report, force=True)
            if progress:
                progress(name, entry)
        with self.db.transaction() as session:
            run = session.get(RetentionRun, run_id)
            service.finish_run(session, self.keys, run, report)
            return run

    def _save(self, run_id: str, report: dict[str, Any], force: bool = False) -> None:
        """Store progress on the run (at most twice a second) and renew the leases; then
        let erasures queued meanwhile go first, between two batches."""
        now = time.monotonic()
        if not force and now - self._last_save < 0.5:
            return
        self._last_save = now
        with self.db.transaction() as session:
            run = session.get(RetentionRun, run_id)
            service.save_progress(session, run, report)
            self._renew(session)
        self.carry_out_erasures()

    def _purge_store(self, run_id, report, name, store, cutoffs, held: Held, dry_run, progress):
        entry = report["targets"][name]
        live = {k: v for k, v in cutoffs.items() if v is not None}
        limit = int(self.app.config["RETENTION_BATCH_ROWS"])
        while True:
            with self.db.transaction() as session:
                result = store.purge(session, live, held, limit, dry_run)
            entry["matched"] += result.matched
            entry["deleted"] += result.deleted
            entry["held"] += result.held
            if dry_run:  # a store's dry purge counts the rows it would delete, holds aside
                entry["would_delete"] = entry.get("would_delete", 0) + result.matched
            if result.notes:
                entry.setdefault("notes", []).extend(result.notes)
            self._save(run_id, report)
            if progress:
                progress(name, entry)
            # A dry run counts everything in one call: nothing is deleted, so looping
            # would count the same rows again.
            if result.done or dry_run or (result.deleted == 0 and result.matched == 0):
                return

    def _purge_external(self, run_id, report, target: RetentionTarget, policy, cutoffs,
                        held: Held, dry_run, progress):
        entry = report["targets"][target.name]
        entry["class"] = target.retention_class or f"by {target.category_column}"
        if target.retention_class and cutoffs.get(target.retention_class) is None:
            entry.update(status="skipped",
                         error=f"class {target.retention_class!r} is kept while the account lives")
            return
        engine = targets.open_engine(target.url)
        try:
            p = targets.prepare(target, engine)
            entry["timestamp_form"] = p.form
            live = {k: v for k, v in cutoffs.items() if v is not None}
            condition = targets.expired(p, policy, live)
            on_hold = targets.held_condition(p, held)
            entry["held"] = targets.count(p, condition & on_hold) if on_hold is not None else 0
            allowed = targets.not_held(p, held)
            deletable = condition if allowed is None else condition & allowed
            if dry_run:
                entry["matched"] = targets.count(p, condition)
                entry["would_delete"] = (entry["matched"] if allowed is None
                                         else targets.count(p, deletable))
                return

            def on_batch(deleted: int, seconds: float) -> None:
                entry["deleted"] += deleted
                entry["matched"] = entry["deleted"] + entry["held"]
                entry["batches"] = entry.get("batches", 0) + 1
                entry["longest_batch_ms"] = max(entry.get("longest_batch_ms", 0.0),
                                                round(seconds * 1000, 1))
                self._save(run_id, report)
                if progress:
                    progress(target.name, entry)

            targets.delete_in_batches(
                p, deletable, max_rows=int(self.app.config["RETENTION_BATCH_ROWS"]),
                target_seconds=float(self.app.config["RETENTION_BATCH_SECONDS"]),
                on_batch=on_batch)
            entry["matched"] = entry["deleted"] + entry["held"]
        finally:
            engine.dispose()

    # -- erasures ----------------------------------------------------------------------

    def execute_erasure(self, erasure_id: str) -> Erasure:
        """Carry out one pass of a claimed erasure (see retention.service): shred the
        audit key, then erase every store and target except what holds protect."""
        policy = self.policy
        with self.db.transaction() as session:
            erasure = session.get(Erasure, erasure_id)
            assert erasure is not None and erasure.status == "running"
            subject_id = erasure.subject_id
            holds = service.active_holds(session, utcnow())
            self._renew(session)
            if not service.start_erasure(session, self.keys, erasure, holds):
                return erasure  # held: a hold is on the subject
        held = service.held_from(holds)
        report: dict[str, dict[str, Any]] = {}
        for name, store in self.stores.items():
            entry = report[name] = {"kind": "store", "status": "succeeded", "deleted": 0,
                                    "held": 0, "error": None}
            try:
                with self.db.transaction() as session:
                    result = store.erase(session, subject_id, held)
                entry.update(deleted=result.deleted, held=result.held)
            except SQLAlchemyError as exc:
                entry.update(status="failed", error=_db_error(exc))
            except Exception as exc:  # a broken store must not stop the erasure elsewhere
                entry.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:500])
                log.exception("erasure in store %s failed", name)
        for target in policy.retention_targets:
            entry = report[target.name] = {"kind": "external", "status": "succeeded",
                                           "deleted": 0, "held": 0, "error": None}
            if target.subject_column is None:
                entry.update(status="skipped", error="no subject_column declared")
                continue
            try:
                self._erase_external(target, subject_id, held, entry)
            except targets.TargetError as exc:
                entry.update(status="failed", error=str(exc))
            except SQLAlchemyError as exc:
                entry.update(status="failed", error=_db_error(exc))
            with self.db.transaction() as session:
                self._renew(session)
        with self.db.transaction() as session:
            erasure = session.get(Erasure, erasure_id)
            service.finish_erasure(session, self.keys, erasure, report, holds, self.policy)
            return erasure

    def _erase_external(self, target: RetentionTarget, subject_id: str, held: Held,
                        entry: dict[str, Any]) -> None:
        engine = targets.open_engine(target.url)
        try:
            p = targets.prepare(target, engine)
            assert p.subject is not None
            mine = p.subject == subject_id
            if subject_id in held.subject_ids:
                entry["held"] = targets.count(p, mine)
                return
            on_hold = targets.held_condition(p, held)
            if on_hold is not None:
                entry["held"] = targets.count(p, mine & on_hold)
            allowed = targets.not_held(p, held)
            stats = targets.delete_in_batches(
                p, mine if allowed is None else mine & allowed,
                max_rows=int(self.app.config["RETENTION_BATCH_ROWS"]),
                target_seconds=float(self.app.config["RETENTION_BATCH_SECONDS"]),
                keyset=False)
            entry["deleted"] = stats.deleted
        finally:
            engine.dispose()


def _db_error(exc: SQLAlchemyError) -> str:
    """A one-line message from a database error, without the SQL and parameters."""
    original = getattr(exc, "orig", None) or exc
    return f"database error: {str(original).splitlines()[0]}"[:500]
