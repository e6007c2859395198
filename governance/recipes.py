"""Recipes: the declared use of data, one version per change, checked against the policy.

A recipe says which purpose, channels and signal categories one personalized
interaction needs. Decisions that cite it are judged against it (`consent.decisions`
gets a `RecipeUse` through `recipe_use`), and `reach` says for how many known subjects
it may run.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit.service import append_entry
from consent.decisions import RecipeUse
from consent.gate import evaluate
from consent.models import SubjectState
from consent.signals import state_shape
from consent.state import ConsentState
from consentry.errors import Conflict, Invalid, NotFound
from consentry.fields import RECIPE_ID_RULE, is_recipe_id
from consentry.policy import Policy
from consentry.secretstore import SecretStore
from governance.models import CONTENT_FIELDS, RecipeVersion

STATUSES = ("draft", "live", "retired")
# A denial that stops every category of the purpose at once is counted by its reason
# alone; any other by "<category>:<reason>".
PURPOSE_WIDE_REASONS = ("personalization_off", "gpc", "sale_sharing_opt_out",
                        "purpose_denied")


def required_grants(policy: Policy, purpose: str, categories: list[str]) -> list[dict]:
    """The explicit grant the policy requires for each sensitive or special category."""
    return [{"category": c, "purpose": purpose, "status": "granted"} for c in categories
            if c in policy.categories and policy.categories[c].sensitivity != "standard"]


def check_recipe(policy: Policy, data: dict) -> None:
    """A 422 naming every purpose, channel and category the policy does not know, and every
    sensitive or special category whose explicit grant the recipe does not name."""
    fields = policy.unknown_ids(purpose=data["purpose"])
    for i, channel in enumerate(data["channels"]):
        fields.update(policy.unknown_ids(f"channels.{i}.", channel=channel))
    for i, category in enumerate(data["categories"]):
        fields.update(policy.unknown_ids(f"categories.{i}.", category=category))
    fields = {k.removesuffix(".channel").removesuffix(".category"): v for k, v in fields.items()}
    needed = {g["category"] for g in required_grants(policy, data["purpose"],
                                                     data["categories"])}
    missing = [c for c in data["categories"] if c in needed and c not in data["explicit_grants"]]
    if missing:
        fields["explicit_grants"] = [
            f"Category {c!r} is {policy.categories[c].sensitivity}: name the explicit grant "
            f"the recipe relies on ({c!r} granted for {data['purpose']!r})." for c in missing]
    for i, grant in enumerate(data["explicit_grants"]):
        if grant not in needed:
            fields[f"explicit_grants.{i}"] = [
                f"{grant!r} is not a sensitive or special category this recipe declares."]
    if fields:
        raise Invalid("The recipe does not fit the policy.", fields=fields)


def check_recipe_id(recipe_id: str) -> None:
    """A 422 for a recipe id outside `consentry.fields.RECIPE_ID_PATTERN`."""
    if not is_recipe_id(recipe_id):
        raise Invalid("Invalid recipe id.", fields={"recipe_id": [RECIPE_ID_RULE]})


def _latest(session: Session, recipe_id: str) -> RecipeVersion | None:
    return session.scalars(select(RecipeVersion).where(RecipeVersion.recipe_id == recipe_id)
                           .order_by(RecipeVersion.version.desc()).limit(1)).first()


def save_recipe(session: Session, keys: SecretStore, policy: Policy, recipe_id: str,
                data: dict, actor: str, now: datetime) -> RecipeVersion:
    """Store `data` as the recipe's next version (audited `recipe.saved`); a PUT equal to
    the latest version changes nothing and returns it."""
    check_recipe_id(recipe_id)
    check_recipe(policy, data)
    content = {name: data.get(name) for name in CONTENT_FIELDS}
    latest = _latest(session, recipe_id)
    if latest is not None and latest.content() == content:
        return latest
    version = 1 if latest is None else latest.version + 1
    values = {"recipe_id": recipe_id, "version": version, **content, "saved_at": now,
              "saved_by": actor}
    try:
        with session.begin_nested():
            session.execute(insert(RecipeVersion).values(**values))
    except IntegrityError:
        raise Conflict(f"Recipe {recipe_id!r} was changed at the same time; "
                       f"read it and try again.") from None
    append_entry(session, keys, "recipe.saved", actor=actor, details={
        "recipe_id": recipe_id, "version": version, "name": content["name"],
        "status": content["status"], "purpose": content["purpose"],
        "channels": content["channels"], "categories": content["categories"]})
    return session.get(RecipeVersion, (recipe_id, version))


def get_recipe(session: Session, recipe_id: str, version: int | None = None) -> RecipeVersion:
    """The recipe's latest version, or the given one; else not found."""
    row = None
    if is_recipe_id(recipe_id):
        row = (_latest(session, recipe_id) if version is None
               else session.get(RecipeVersion, (recipe_id, version)))
    if row is None:
        raise NotFound("No such recipe." if version is None else "No such recipe version.")
    return row


def list_recipes(session: Session) -> list[RecipeVersion]:
    """The latest version of every recipe, by id."""
    newest = (select(RecipeVersion.recipe_id, func.max(RecipeVersion.version).label("v"))
              .group_by(RecipeVersion.recipe_id).subquery())
    return list(session.scalars(
        select(RecipeVersion).join(newest, (RecipeVersion.recipe_id == newest.c.recipe_id)
                                   & (RecipeVersion.version == newest.c.v))
        .order_by(RecipeVersion.recipe_id)))


def recipe_view(row: RecipeVersion, policy: Policy) -> dict:
    """A recipe version as the API shows it, with the grants the policy requires."""
    return {"recipe_id": row.recipe_id, "version": row.version, **row.content(),
            "required_grants": required_grants(policy, row.purpose, row.categories),
            "saved_at": row.saved_at, "saved_by": row.saved_by}


def recipe_use(session: Session, recipe_id: str, version: int | None = None
               ) -> RecipeUse | None:
    """What a decision needs of a recipe (latest or given version), or None if unknown."""
    try:
        row = get_recipe(session, recipe_id, version)
    except NotFound:
        return None
    return RecipeUse(row.recipe_id, row.version, row.name, row.action, tuple(row.categories),
                     row.status)


def shape_counts(session: Session, policy: Policy) -> tuple[Counter, dict[tuple, dict]]:
    """One pass over the stored states: how many subjects share each state shape, and one
    state of each shape. With `consent_max_age_days` the time of a grant matters, so each
    state is its own shape."""
    shapes: Counter = Counter()
    sample: dict[tuple, dict] = {}
    by_shape = policy.consent_max_age_days is None
    table = SubjectState.__table__
    result = session.connection().execution_options(yield_per=10_000).execute(
        select(table.c.state))
    for (raw,) in result:
        key = state_shape(raw) if by_shape else (len(sample),)
        if key not in sample:
            sample[key] = raw
        shapes[key] += 1
    return shapes, sample


def reach_of(shapes: Counter, sample: dict[tuple, dict], policy: Policy, row: RecipeVersion,
             now: datetime) -> dict[str, dict]:
    """Per channel of the recipe: eligible subjects and blocking reasons, each state shape
    evaluated once with the gate's `evaluate`."""
    channels = {}
    for channel in row.channels:
        eligible, blocked = 0, Counter()
        for key, count in shapes.items():
            evaluation = evaluate(ConsentState.from_json(sample[key]), policy, row.purpose,
                                  channel, row.categories, now)
            denied = evaluation.denied
            if not denied:
                eligible += count
                continue
            for reason_key in dict.fromkeys(
                    d["reason"] if d["reason"] in PURPOSE_WIDE_REASONS
                    else f"{d['category']}:{d['reason']}" for d in denied):
                blocked[reason_key] += count
        channels[channel] = {"eligible": eligible, "blocked_by": dict(blocked.most_common())}
    return channels


def reach(session: Session, policy: Policy, row: RecipeVersion, now: datetime) -> dict:
    """For the subjects the service knows: on each channel of the recipe, how many it may
    run for, and what blocks the rest. One pass over the stored states (`shape_counts`),
    then the gate once per shape and channel. A subject blocked by several categories
    counts under each of them."""
    shapes, sample = shape_counts(session, policy)
    return {"recipe_id": row.recipe_id, "version": row.version,
            "subjects": sum(shapes.values()),
            "channels": reach_of(shapes, sample, policy, row, now), "evaluated_at": now}
