"""Governance reports: data minimization and the record of processing activities.

Both are built from the policy, the recipes and the per-day category usage that
decisions keep (`consent.models.DecisionCategoryDay`), never from the decisions table,
so they answer for longer than decisions are kept.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent.models import DecisionCategoryDay
from consent.receipts import controller_record, own_grant_categories
from consentry.clock import rfc3339
from consentry.policy import RECIPIENT_ROLES, Policy
from governance.recipes import list_recipes, reach_of, shape_counts

FINDINGS = ("unused", "declared_unused", "used_undeclared", "ok")
DPIA_CRITERIA = ("sensitive_or_special", "profiling", "matching_datasets", "large_scale")
# Categories that match or combine data sets (EDPB WP248 criterion 6)
MATCHING_CATEGORIES = ("offline_identity", "cross_site")
DEFAULT_WINDOW = timedelta(days=365)
DPIA_THRESHOLD = 2  # EDPB: processing meeting two criteria needs a DPIA in most cases


def _collected_in(policy: Policy, category_id: str, used: bool) -> dict:
    """The retention targets that hold a category (its class, or a category column, which
    may hold any category) and the service's own stores that do."""
    category = policy.categories[category_id]
    targets = [t.name for t in policy.retention_targets
               if t.retention_class == category.retention_class or t.category_column]
    return {"targets": targets, "stores": ["decisions"] if used else []}


def minimization(session: Session, policy: Policy, since: datetime | None,
                 until: datetime | None, now: datetime) -> dict:
    """Per category of the policy: where it is collected, which live recipes declare it,
    how often and how recently decisions in the window used it, and the finding."""
    until = until or now
    since = since or until - DEFAULT_WINDOW
    usage = {category: (decisions, violations, last) for category, decisions, violations, last
             in session.execute(
                 select(DecisionCategoryDay.category, func.sum(DecisionCategoryDay.decisions),
                        func.sum(DecisionCategoryDay.violations),
                        func.max(DecisionCategoryDay.last_used_at))
                 .where(DecisionCategoryDay.day >= since.date(),
                        DecisionCategoryDay.day <= until.date())
                 .group_by(DecisionCategoryDay.category))}
    live = [r for r in list_recipes(session) if r.status == "live"]
    categories = []
    for cid in policy.categories:
        decisions, violations, last = usage.get(cid, (0, 0, None))
        declared_by = [r.recipe_id for r in live if cid in r.categories]
        used = bool(decisions)
        collected = _collected_in(policy, cid, used)
        if used:
            finding = "ok" if declared_by else "used_undeclared"
        elif declared_by:
            finding = "declared_unused"
        else:
            finding = "unused" if collected["targets"] else "ok"
        categories.append({"category": cid, "label": policy.categories[cid].label,
                           "sensitivity": policy.categories[cid].sensitivity,
                           "collected_in": collected, "declared_by": declared_by,
                           "decisions": int(decisions), "violations": int(violations),
                           "last_used_at": last, "finding": finding})
    return {"since": since, "until": until, "generated_at": now,
            "policy_version": policy.version, "categories": categories}


def _bases_in_law(policy: Policy, pid: str, declared: list[str], now: datetime):
    """The purpose's legal basis per jurisdiction in the law's words, and each declared
    category's (its own grant's condition where the gate asks for one)."""
    purpose_words, category_words = {}, {c: {} for c in declared}
    for j in policy.jurisdictions.values():
        purpose_words[j.id] = j.basis_in_law(pid)
        own = set(own_grant_categories(policy, j, pid, now))
        for c in declared:
            category_words[c][j.id] = j.basis_in_law(
                pid, policy.categories[c].sensitivity if c in own else None)
    return purpose_words, category_words


def _recipients_of(policy: Policy, pid: str) -> list[dict]:
    """The policy's recipients of a purpose's data (GDPR Art. 30(1)(d))."""
    return [{"id": r.id, "name": r.name, "role": r.role, "dpv_role": RECIPIENT_ROLES[r.role],
             "country": r.country, "categories": list(r.categories),
             "third_country": r.third_country, "transfer_safeguard": r.transfer_safeguard,
             "sale_sharing": r.sale_sharing}
            for r in policy.recipients if pid in r.purposes]


def processing_records(session: Session, policy: Policy, now: datetime) -> dict:
    """A record of processing activities (GDPR Art. 30(1)) per purpose, with its DPIA
    screening (the EDPB criteria that apply here)."""
    recipes = list_recipes(session)
    live = [r for r in recipes if r.status == "live"]
    shapes = sample = None
    activities = []
    for pid, purpose in policy.purposes.items():
        uses = [r for r in live if r.purpose == pid]
        declared = list(dict.fromkeys(c for r in uses for c in r.categories))
        criteria = []
        sensitive = [c for c in declared if policy.categories[c].sensitivity != "standard"]
        if sensitive:
            criteria.append({"criterion": "sensitive_or_special", "categories": sensitive})
        if declared:
            criteria.append({"criterion": "profiling", "recipes": [r.recipe_id for r in uses
                                                                   if r.categories]})
        matching = [c for c in declared if c in MATCHING_CATEGORIES]
        if matching:
            criteria.append({"criterion": "matching_datasets", "categories": matching})
        reach = None
        if uses and policy.dpia_large_scale_subjects is not None:
            if shapes is None:
                shapes, sample = shape_counts(session, policy)
            reach = max(max((c["eligible"] for c in reach_of(shapes, sample, policy, r,
                                                             now).values()), default=0)
                        for r in uses)
            if reach > policy.dpia_large_scale_subjects:
                criteria.append({"criterion": "large_scale", "reach": reach,
                                 "threshold": policy.dpia_large_scale_subjects})
        in_law, category_in_law = _bases_in_law(policy, pid, declared, now)
        recipients = _recipients_of(policy, pid)
        activities.append({
            "purpose": pid, "label": purpose.label, "description": purpose.description,
            "controller": policy.controller,
            "data_subjects": list(policy.data_subjects_of(pid)),
            "categories": [{"category": c, "label": policy.categories[c].label,
                            "sensitivity": policy.categories[c].sensitivity,
                            "retention_days": policy.retention_classes[
                                policy.categories[c].retention_class],
                            "stored_in": _collected_in(policy, c, False)["targets"],
                            "legal_basis_text": category_in_law[c]}
                           for c in declared],
            "legal_basis": {j.id: j.basis[pid] for j in policy.jurisdictions.values()},
            "legal_basis_text": in_law,
            "recipients": recipients,
            "transfers": [{"id": r["id"], "name": r["name"], "country": r["country"],
                           "transfer_safeguard": r["transfer_safeguard"]}
                          for r in recipients if r["third_country"]],
            "recipes": [{"recipe_id": r.recipe_id, "version": r.version, "name": r.name,
                         "channels": r.channels} for r in uses],
            "dpia": {"criteria": criteria, "reach": reach,
                     "dpia_recommended": len(criteria) >= DPIA_THRESHOLD,
                     "reasons": [c["criterion"] for c in criteria]},
        })
    return {"controller": policy.controller, "policy_version": policy.version,
            "policy_url": policy.policy_url, "generated_at": now,
            "controller_contact": controller_record(policy),
            "data_subjects": list(policy.data_subjects),
            "security_measures": list(policy.security_measures),
            "activities": activities}


CSV_COLUMNS = ("purpose", "controller", "categories", "sensitive_categories", "retention",
               "stored_in", "legal_basis", "recipes", "dpia_recommended", "dpia_reasons",
               "controller_contact", "dpo", "data_subjects", "recipients",
               "third_country_transfers", "legal_basis_text", "security_measures")


def _contact_text(contact: dict) -> str:
    """The controller's contact on one line: email, phone, URL, postal address."""
    address = contact.get("address") or {}
    postal = ", ".join(filter(None, (address.get("street"),
                                     " ".join(filter(None, (address.get("postal_code"),
                                                            address.get("locality")))),
                                     address.get("country"))))
    return "; ".join(filter(None, (contact.get("email"), contact.get("phone"),
                                   contact.get("url"), postal)))


def _dpo_text(contact: dict) -> str:
    dpo = contact.get("dpo")
    if not dpo:
        return ""
    return f"{dpo['name']} <{dpo['email']}>" if dpo.get("name") else dpo["email"]


def processing_records_csv(record: dict) -> str:
    """The processing record as CSV, one row per purpose (lists joined with '; ')."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for a in record["activities"]:
        cats = a["categories"]
        writer.writerow([
            a["purpose"], a["controller"], "; ".join(c["category"] for c in cats),
            "; ".join(c["category"] for c in cats if c["sensitivity"] != "standard"),
            "; ".join(f"{c['category']}={c['retention_days'] or 'account lifetime'}"
                      for c in cats),
            "; ".join(sorted({t for c in cats for t in c["stored_in"]})),
            "; ".join(f"{j}={b}" for j, b in a["legal_basis"].items()),
            "; ".join(r["recipe_id"] for r in a["recipes"]),
            "yes" if a["dpia"]["dpia_recommended"] else "no",
            "; ".join(a["dpia"]["reasons"]),
            _contact_text(record["controller_contact"]), _dpo_text(record["controller_contact"]),
            "; ".join(a["data_subjects"]),
            "; ".join(f"{r['id']}={r['name']} ({r['role']}, {r['country'] or 'country not stated'})"
                      for r in a["recipients"]),
            "; ".join(f"{t['id']}={t['country']}: {t['transfer_safeguard']}"
                      for t in a["transfers"]),
            "; ".join(f"{j}={words}" for j, words in a["legal_basis_text"].items()),
            " ".join(record["security_measures"])])
    return out.getvalue()


MINIMIZATION_COLUMNS = ("category", "sensitivity", "finding", "collected_in", "declared_by",
                        "decisions", "violations", "last_used_at")


def minimization_csv(report: dict) -> str:
    """The data-minimization report as CSV, one row per category."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(MINIMIZATION_COLUMNS)
    for c in report["categories"]:
        writer.writerow([
            c["category"], c["sensitivity"], c["finding"],
            "; ".join([*c["collected_in"]["targets"], *c["collected_in"]["stores"]]),
            "; ".join(c["declared_by"]), c["decisions"], c["violations"],
            rfc3339(c["last_used_at"]) or ""])
    return out.getvalue()
