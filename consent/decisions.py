"""Decisions: record what an engine showed, judge it against consent at `decided_at`."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from audit.service import append_entries
from consent.explain import explain
from consent.gate import evaluate
from consent.ledger import replay_state
from consent.models import Decision, DecisionCategoryDay, DecisionSignal, SubjectState
from consent.signals import state_shape
from consent.state import ConsentState
from consentry.clock import rfc3339, utcnow
from consentry.db import BulkInsert, json_value, utc_value
from consentry.errors import Invalid, NotFound
from consentry.metrics import surface_label
from consentry.pagination import decode_keyset, encode_keyset
from consentry.policy import Policy
from consentry.secretstore import SecretStore

FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_BATCH_DECISIONS = 1000  # decisions in one POST /v1/decisions/batch
TRANSPARENCY_WINDOW = timedelta(days=30)
# What an engine may have stored per decision: its item, signals_used and rule as JSON.
# With MAX_EXPLANATIONS_PAGE it bounds a page of explanations to about 2 MB.
MAX_DECISION_BYTES = 16 * 1024
MAX_EXPLANATIONS_PAGE = 100
# Violations a decision can have beyond the gate's denials (whose reasons are the gate's)
RECIPE_REASONS = ("undeclared_category", "signal_too_old")
# Where the composition root puts the recipe lookup (governance provides it; consent
# never imports governance): lookup(session, recipe_id, version=None) -> RecipeUse | None
RECIPE_LOOKUP = "consent.recipe_lookup"


@dataclass(frozen=True)
class RecipeUse:
    """What a decision needs of the recipe it cites."""

    recipe_id: str
    version: int
    name: str
    action: str
    categories: tuple[str, ...]
    status: str


def stored_size_error(item: dict, signals_used: list[dict], rule: dict | None
                      ) -> dict[str, list[str]]:
    """A field error naming the largest part when a decision would store more than
    MAX_DECISION_BYTES, else nothing."""
    sizes = {name: len(orjson.dumps(part)) for name, part in
             (("item", item), ("signals_used", signals_used), ("rule", rule))}
    total = sum(sizes.values())
    if total <= MAX_DECISION_BYTES:
        return {}
    largest = max(sizes, key=sizes.__getitem__)
    return {largest: [f"A decision stores at most {MAX_DECISION_BYTES // 1024} kB (item, "
                      f"signals_used and rule as JSON); this one takes {total:,} bytes, "
                      f"{sizes[largest]:,} of them here."]}


def _stored_states(session: Session, subject_ids: list[str]) -> dict[str, tuple]:
    """The stored state and its time of the given subjects, one round trip straight to the
    driver (inside the lock of a batch, SQLAlchemy's handling of 1,000 bound ids and
    their rows cost several times the query); unknown absent."""
    if not subject_ids:
        return {}
    conn = session.connection()
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    rows = conn.exec_driver_sql(
        f"SELECT subject_id, state, updated_at FROM {SubjectState.__tablename__} "
        f"WHERE subject_id IN ({', '.join([mark] * len(subject_ids))})", tuple(subject_ids))
    return {sid: (json_value(state), utc_value(updated_at)) for sid, state, updated_at in rows}


class _Judge:
    """The gate's denials of many decisions, each distinct question asked once.

    A decision is judged on the subject's state at `decided_at`: the stored state when
    nothing changed since, else a replay (once per subject and moment). Without
    `consent_max_age_days` the answer depends only on the state's shape and the
    question, as in `signals.check_batch`, so each (shape, purpose, channel,
    categories) is evaluated once; with it, every decision is evaluated on its own.
    """

    def __init__(self, session: Session, policy: Policy, subject_ids: list[str]):
        self.session, self.policy = session, policy
        self.stored = _stored_states(session, list(dict.fromkeys(subject_ids)))
        self.by_shape = policy.consent_max_age_days is None
        self.replayed: dict[tuple, dict] = {}
        self.answers: dict[tuple, list[dict]] = {}

    def _raw_state(self, subject_id: str, moment: datetime) -> dict | None:
        stored = self.stored.get(subject_id)
        if stored is None:
            return None
        state, updated_at = stored
        if updated_at <= moment:
            return state
        key = (subject_id, moment)
        if key not in self.replayed:
            self.replayed[key] = replay_state(self.session, subject_id, moment).to_json()
        return self.replayed[key]

    def denied(self, subject_id: str, purpose: str, channel: str | None,
               categories: list[str], moment: datetime) -> list[dict]:
        raw = self._raw_state(subject_id, moment)
        key = (state_shape(raw), purpose, channel, tuple(categories)) if self.by_shape else None
        answer = self.answers.get(key) if self.by_shape else None
        if answer is None:
            answer = evaluate(ConsentState.from_json(raw), self.policy, purpose, channel,
                              categories, moment).denied
            if self.by_shape:
                self.answers[key] = answer
        return [dict(v) for v in answer]


def decision_errors(policy: Policy, decision: dict, recipe: RecipeUse | None,
                    now: datetime) -> dict[str, list[str]]:
    """The field errors of one decision against the policy (empty: it may be stored).

    `recipe` is what the entry found for the decision's `recipe_id` (None: no such recipe).
    """
    fields = policy.unknown_ids(purpose=decision["purpose"], channel=decision["channel"])
    recipe_id, decided_at = decision.get("recipe_id"), decision["decided_at"]
    if recipe_id is not None:
        if recipe is None:
            fields["recipe_id"] = [f"Unknown recipe {recipe_id!r}."]
        elif recipe.status == "retired":
            fields["recipe_id"] = [f"Recipe {recipe_id!r} is retired."]
    fields.update(stored_size_error(decision["item"], decision["signals_used"],
                                    decision["rule"]))
    if decided_at > now + FUTURE_TOLERANCE:
        fields["decided_at"] = ["May not lie more than 5 minutes in the future."]
    kept_days = policy.retention_classes.get(policy.decisions_class)
    if kept_days is not None and decided_at < now - timedelta(days=kept_days):
        # A decision older than its retention would be purged at once: it can only be
        # a mistake, or an attempt to backdate past what the log still shows.
        fields["decided_at"] = [f"May not lie more than {kept_days} days in the past "
                                f"(decisions are kept {kept_days} days)."]
    for i, signal in enumerate(decision["signals_used"]):
        fields.update(policy.unknown_ids(f"signals_used.{i}.", category=signal["category"]))
        observed = signal.get("observed_at")
        if observed is not None and observed > decided_at:
            fields[f"signals_used.{i}.observed_at"] = ["May not lie after decided_at."]
    return fields


def record_decision(session: Session, keys: SecretStore, policy: Policy, *, subject_id: str,
                    surface: str,
                    channel: str | None, purpose: str, item: dict, signals_used: list[dict],
                    rule: dict | None, decided_at: datetime, actor: str,
                    recipe_id: str | None = None, recipe: RecipeUse | None = None) -> dict:
    """Store a decision, marking it non-conformant (and auditing why) if it used a category
    the subject had not allowed at `decided_at`, one its recipe does not declare
    (`undeclared_category`) or a signal older than its category's `max_signal_age_days`
    (`signal_too_old`); return its stored values as `record_decisions` does (a dict).

    `recipe` is what the entry found for `recipe_id` (None: no such recipe, a 422)."""
    decision = {"subject_id": subject_id, "surface": surface, "channel": channel,
                "purpose": purpose, "item": item, "signals_used": signals_used, "rule": rule,
                "decided_at": decided_at, "recipe_id": recipe_id}
    return _record(session, keys, policy, [decision], actor, {recipe_id: recipe}, "")[0]


def record_decisions(session: Session, keys: SecretStore, policy: Policy,
                     decisions: list[dict], *, actor: str,
                     recipes: dict[str, RecipeUse | None]) -> list[dict]:
    """Store up to MAX_BATCH_DECISIONS decisions together, judged as `record_decision`
    judges one, and return their stored values (as dicts: no ORM objects on this hot
    path) in order. Any invalid decision is a 422 naming
    `decisions.<n>.<field>`, and none is stored.

    Each decision is a dict of `record_decision`'s arguments (subject_id, surface,
    channel, purpose, item, signals_used, rule, decided_at, recipe_id); `recipes` maps
    each cited recipe id to what the entry found for it (None: no such recipe)."""
    return _record(session, keys, policy, decisions, actor, recipes, "decisions.")


def _record(session: Session, keys: SecretStore, policy: Policy, decisions: list[dict],
            actor: str, recipes: dict, prefix: str) -> list[dict]:
    now = utcnow()
    fields = {}
    for n, decision in enumerate(decisions):
        at = f"{prefix}{n}." if prefix else ""
        for name, messages in decision_errors(policy, decision,
                                              recipes.get(decision.get("recipe_id")),
                                              now).items():
            fields[at + name] = messages
    if fields:
        raise Invalid("The decision does not fit the policy." if not prefix else
                      "A decision of the batch does not fit the policy; none was stored.",
                      fields=fields)
    # Everything a decision stores but its judgement is built, and converted for the
    # driver, before the first statement (which, on SQLite, takes the write lock): the
    # lock is held for the judging and the inserts only.
    rows, signal_rows, asked = [], [], []
    usage: dict[tuple, list] = {}  # (day, category) -> [decisions, violations, last used]
    policy_version = policy.version
    for decision in decisions:
        subject_id, decided_at = decision["subject_id"], decision["decided_at"]
        surface, signals_used = decision["surface"], decision["signals_used"]
        recipe = recipes.get(decision.get("recipe_id"))
        categories = list(dict.fromkeys(s["category"] for s in signals_used))
        decision_id = str(uuid.uuid4())
        violations = [] if recipe is None else [
            {"category": c, "reason": "undeclared_category"}
            for c in categories if c not in recipe.categories]
        violations += signal_age_violations(policy, signals_used, decided_at)
        rows.append({"decision_id": decision_id, "subject_id": subject_id,
                     "surface": surface, "channel": decision["channel"],
                     "purpose": decision["purpose"], "item": decision["item"],
                     "signals_used": [_stored_signal(s) for s in signals_used],
                     "rule": decision["rule"], "decided_at": decided_at, "recorded_at": now,
                     "conformant": not violations, "violations": violations,
                     "policy_version": policy_version, "actor": actor,
                     "recipe_id": recipe.recipe_id if recipe else None,
                     "recipe_version": recipe.version if recipe else None})
        signal_rows += [{"decision_id": decision_id, "category": c, "surface": surface,
                         "decided_at": decided_at} for c in categories]
        asked.append(categories)
        for c in categories:
            day = usage.setdefault((decided_at.date(), c), [0, 0, decided_at])
            day[0] += 1
            if decided_at > day[2]:
                day[2] = decided_at
    dialect = session.get_bind().dialect
    prepared = _INSERT_DECISIONS.prepare(dialect, rows)
    prepared_signals = _INSERT_SIGNALS.prepare(dialect, signal_rows)
    conformant_at = _INSERT_DECISIONS.position("conformant")
    violations_at = _INSERT_DECISIONS.position("violations")

    judge = _Judge(session, policy, [d["subject_id"] for d in decisions if d["signals_used"]])
    audits = []
    for values, sent, categories in zip(rows, prepared, asked, strict=True):
        if not categories:
            continue
        subject_id, decided_at = values["subject_id"], values["decided_at"]
        purpose, channel = values["purpose"], values["channel"]
        violations = judge.denied(subject_id, purpose, channel, categories, decided_at)
        if violations:  # the gate's denials first, then the recipe's and the ages'
            violations += values["violations"]
            values["violations"], values["conformant"] = violations, False
            sent[conformant_at], sent[violations_at] = False, _INSERT_DECISIONS.json(violations)
        else:
            violations = values["violations"]
        if not violations:
            continue
        day_key = decided_at.date()
        for c in {v["category"] for v in violations}.intersection(categories):
            usage[day_key, c][1] += 1
        # The audit chain outlives an erasure in clear: a surface the policy does not
        # list (free text an engine sent, which may name the person) is audited as
        # `other`, as /metrics counts it; the decision row keeps the surface as sent.
        surface = surface_label(policy, values["surface"])
        audits += [(subject_id, {"decision_id": values["decision_id"],
                                 "surface": surface, "purpose": purpose,
                                 "channel": channel, "category": v["category"],
                                 "reason": v["reason"],
                                 "decided_at": rfc3339(decided_at)}) for v in violations]
    conn = session.connection()  # straight to the driver: the engines' hot write path
    _INSERT_DECISIONS.send(conn, prepared)
    _INSERT_SIGNALS.send(conn, prepared_signals)
    # One entry per violation, as ever; appended together (one lock of the chain's head).
    append_entries(session, keys, "decision.violation", audits, actor=actor)
    if usage:  # last: the day's rows are shared by every engine, so lock them briefly
        count_category_use(conn, usage)
    return rows


_INSERT_DECISIONS = BulkInsert(Decision.__table__)
_INSERT_SIGNALS = BulkInsert(DecisionSignal.__table__)


def _stored_signal(signal: dict) -> dict:
    observed = signal.get("observed_at")
    return signal if observed is None else {**signal, "observed_at": rfc3339(observed)}


def signal_age_violations(policy: Policy, signals_used: list[dict],
                          decided_at: datetime) -> list[dict]:
    """A `signal_too_old` violation per category whose oldest signal (`observed_at`) was
    older at `decided_at` than the category's `max_signal_age_days`."""
    too_old = []
    for signal in signals_used:
        observed = signal.get("observed_at")
        category = policy.categories[signal["category"]]
        if (observed is not None and category.max_signal_age_days is not None
                and decided_at - observed > timedelta(days=category.max_signal_age_days)
                and category.id not in too_old):
            too_old.append(category.id)
    return [{"category": c, "reason": "signal_too_old"} for c in too_old]


def count_category_use(conn, usage: dict[tuple, list]) -> None:
    """Add decisions to the per-day usage of their categories (the minimization report's
    source) in one upsert: `usage` maps (day, category) to [decisions, violations, last
    used at]; each row is created or its counts grow. Rows are taken in (day, category)
    order, so two writers never deadlock."""
    conn.execute(_usage_upsert(conn.dialect.name),
                 [{"day": day, "category": category, "decisions": n, "violations": bad,
                   "last_used_at": last}
                  for (day, category), (n, bad, last) in sorted(usage.items())])


@functools.cache
def _usage_upsert(dialect: str):
    """The usage upsert, built once per dialect (the engines' hot write path)."""
    table = DecisionCategoryDay.__table__
    upsert = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(table)
    later = upsert.excluded.last_used_at > table.c.last_used_at
    return upsert.on_conflict_do_update(
        index_elements=[table.c.day, table.c.category],
        set_={"decisions": table.c.decisions + upsert.excluded.decisions,
              "violations": table.c.violations + upsert.excluded.violations,
              "last_used_at": case((later, upsert.excluded.last_used_at),
                                   else_=table.c.last_used_at)})


def explain_decision(session: Session, decision: Decision, policy: Policy, language: str,
                     recipe_lookup=None, memo: dict | None = None) -> dict:
    """The explanation of `decision`, with the recipe version it cited (found through
    `recipe_lookup(session, recipe_id, version)`, which the app wires in; `memo` spares
    a list looking one recipe up twice)."""
    recipe = None
    if decision.recipe_id is not None and recipe_lookup is not None:
        key = (decision.recipe_id, decision.recipe_version)
        memo = {} if memo is None else memo
        if key not in memo:
            memo[key] = recipe_lookup(session, *key)
        recipe = memo[key]
    return explain(decision, policy, language, recipe)


def get_decision(session: Session, subject_id: str, decision_id: str) -> Decision:
    """One of this subject's decisions; another subject's is not found (never forbidden)."""
    decision = session.get(Decision, decision_id) if len(decision_id) <= 36 else None
    if decision is None or decision.subject_id != subject_id:
        raise NotFound("No such decision for this subject.")
    return decision


def subject_decisions(session: Session, subject_id: str) -> list[Decision]:
    """Every stored decision about the subject, oldest first (a subject access export's)."""
    return list(session.scalars(select(Decision).where(Decision.subject_id == subject_id)
                                .order_by(Decision.decided_at, Decision.decision_id)))


def recent_decisions(session: Session, subject_id: str, surface: str | None, limit: int,
                     cursor: str | None) -> tuple[list[Decision], str | None]:
    """The subject's decisions, newest first, at most MAX_EXPLANATIONS_PAGE at a time."""
    limit = min(limit, MAX_EXPLANATIONS_PAGE)
    position = decode_keyset(cursor)
    query = select(Decision).where(Decision.subject_id == subject_id)
    if surface:
        query = query.where(Decision.surface == surface)
    if position:
        t, last_id = position
        query = query.where((Decision.decided_at < t) | (
            (Decision.decided_at == t) & (Decision.decision_id < last_id)))
    rows = session.scalars(query.order_by(Decision.decided_at.desc(),
                                          Decision.decision_id.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    nxt = encode_keyset(page[-1].decided_at, page[-1].decision_id) if len(rows) > limit else None
    return page, nxt


def transparency(session: Session, now: datetime) -> list[dict]:
    """Per surface over the last 30 days: which categories drove decisions, how often, and
    the share that used none (the non-profiling experience). Counts only."""
    since = now - TRANSPARENCY_WINDOW
    totals = dict(session.execute(
        select(Decision.surface, func.count()).where(Decision.decided_at >= since)
        .group_by(Decision.surface)).all())
    with_signals = dict(session.execute(
        select(DecisionSignal.surface, func.count(func.distinct(DecisionSignal.decision_id)))
        .where(DecisionSignal.decided_at >= since).group_by(DecisionSignal.surface)).all())
    by_category: dict[str, dict[str, int]] = {}
    for surface, category, count in session.execute(
            select(DecisionSignal.surface, DecisionSignal.category, func.count())
            .where(DecisionSignal.decided_at >= since)
            .group_by(DecisionSignal.surface, DecisionSignal.category)):
        by_category.setdefault(surface, {})[category] = count
    report = []
    for surface in sorted(totals):
        total = totals[surface]
        none = total - with_signals.get(surface, 0)
        report.append({
            "surface": surface,
            "decisions": total,
            "categories": [{"category": c, "decisions": n, "share": round(n / total, 4)}
                           for c, n in sorted(by_category.get(surface, {}).items(),
                                              key=lambda kv: (-kv[1], kv[0]))],
            "without_personal_signals": none,
            "non_profiling_share": round(none / total, 4),
        })
    return report


def violations_by_day(session: Session, since: datetime, until: datetime) -> list[dict]:
    """Violations of decisions made in [since, until), counted per UTC day, category and
    surface: `[{"day": date, "category", "surface", "count"}]`, oldest day first."""
    counts: dict[tuple, int] = {}
    rows = session.execute(
        select(Decision.decided_at, Decision.surface, Decision.violations)
        .where(Decision.conformant.is_(False), Decision.decided_at >= since,
               Decision.decided_at < until)
        .execution_options(yield_per=5_000))
    for decided_at, surface, violations in rows:
        for violation in violations or ():
            key = (decided_at.date(), violation.get("category"), surface)
            counts[key] = counts.get(key, 0) + 1
    return [{"day": day, "category": category, "surface": surface, "count": n}
            for (day, category, surface), n in sorted(counts.items(),
                                                       key=lambda kv: (kv[0][0], str(kv[0][1]),
                                                                       kv[0][2]))]
