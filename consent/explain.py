"""Plain-language explanations of decisions ("why am I seeing this"). Pure."""

from __future__ import annotations

from consentry.policy import Policy

LANGUAGES = ("en", "de")

TEXT = {
    "en": {
        "because_you": "You're seeing {item} because you {summary}.",
        "because_rule": "You're seeing {item} because {rule}.",
        "because_category": "You're seeing {item} because of {category}.",
        "not_personal": "You're seeing {item}. We did not use information about you to "
                        "choose it.",
        "stop_using": "Stop using {label}",
        "personalization_off": "Turn off personalization",
        "preference_center": "Review all your privacy choices",
        "without_consent": "This was used although you had not allowed it at the time. "
                           "We have recorded this.",
    },
    "de": {
        "because_you": "Sie sehen {item}, weil Sie {summary}.",
        "because_rule": "Sie sehen {item}, weil {rule}.",
        "because_category": "Sie sehen {item} aufgrund von: {category}.",
        "not_personal": "Sie sehen {item}. Für diese Auswahl haben wir keine Informationen "
                        "über Sie verwendet.",
        "stop_using": "{label} nicht mehr verwenden",
        "personalization_off": "Personalisierung ausschalten",
        "preference_center": "Alle Datenschutzeinstellungen ansehen",
        "without_consent": "Dies wurde verwendet, obwohl Sie es zu diesem Zeitpunkt nicht "
                           "erlaubt hatten. Wir haben das festgehalten.",
    },
}


def pick_language(accept_language) -> str:
    """The best of LANGUAGES for an Accept-Language header (werkzeug's parsed form)."""
    return accept_language.best_match(LANGUAGES, default="en") if accept_language else "en"


def _text(value, language: str) -> str | None:
    """A summary or description: a string, or a {language: text} map from the engine."""
    if value is None or isinstance(value, str):
        return value
    return value.get(language) or value.get("en") or next(iter(value.values()), None)


def _in_language(value, language: str) -> str | None:
    """A summary usable in a sentence of `language`: a plain string counts as English;
    a translation map must have that language. (Otherwise the headline would mix
    languages: "weil Sie viewed ...".)"""
    if isinstance(value, str):
        return value if language == "en" else None
    if isinstance(value, dict):
        return value.get(language)
    return None


def _strongest(signals: list[dict], language: str) -> dict | None:
    with_summary = [s for s in signals if _in_language(s.get("summary"), language)]
    if not with_summary:
        return None
    return max(with_summary, key=lambda s: s.get("weight", 0))  # ties: the first listed


def _sentence_tail(text: str) -> str:
    return text.strip().rstrip(".")


def explain(decision, policy: Policy, language: str, recipe=None) -> dict:
    """The explanation of one decision: headline, every reason, and the controls; with
    the recipe it followed (`decisions.RecipeUse`: its name and plain-language action)."""
    t = TEXT[language]
    item = decision.item.get("label") or decision.item.get("id") or "this"
    violated = {v["category"] for v in decision.violations}
    reasons = []
    for signal in decision.signals_used:
        category = policy.categories.get(signal["category"])
        label = category.label_in(language) if category else signal["category"]
        reason = {"category": signal["category"], "label": label,
                  "summary": _text(signal.get("summary"), language),
                  "allowed_at_the_time": signal["category"] not in violated}
        if signal["category"] in violated:
            reason["note"] = t["without_consent"]
        reasons.append(reason)
    strongest = _strongest(decision.signals_used, language)
    rule = _text((decision.rule or {}).get("description"), language)
    if strongest is not None:
        summary = _sentence_tail(_in_language(strongest["summary"], language))
        if summary.lower().startswith(("you ", "sie ")):
            summary = summary.split(" ", 1)[1]
        headline = t["because_you"].format(item=item, summary=summary)
    elif reasons:
        headline = t["because_category"].format(item=item, category=reasons[0]["label"])
    elif rule:
        headline = t["because_rule"].format(item=item, rule=_sentence_tail(rule))
    else:
        headline = t["not_personal"].format(item=item)
    controls = []
    for reason in reasons:
        category = policy.categories.get(reason["category"])
        label = (category.control_labels.get(language) if category else None) or \
            t["stop_using"].format(label=reason["label"])
        controls.append({"action": "deny_category", "category": reason["category"],
                         "purpose": decision.purpose, "label": label})
    controls.append({"action": "personalization_off", "label": t["personalization_off"]})
    if policy.preference_center_url:
        controls.append({"action": "open_preference_center", "label": t["preference_center"],
                         "url": policy.preference_center_url})
    return {
        "decision_id": decision.decision_id,
        "subject_id": decision.subject_id,
        "surface": decision.surface,
        "item": decision.item,
        "headline": headline,
        "reasons": reasons,
        "rule": decision.rule,
        "recipe": None if recipe is None else {
            "recipe_id": recipe.recipe_id, "version": recipe.version, "name": recipe.name,
            "action": recipe.action},
        "controls": controls,
        "conformant": decision.conformant,
        "policy_version": decision.policy_version,
        "decided_at": decision.decided_at,
        "language": language,
    }
