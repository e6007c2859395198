"""Plain-language explanations of decisions ("why am I seeing this"). Pure."""

from __future__ import annotations

from consentry.policy import Policy

LANGUAGES = ("en", "de")

# Headlines are built so any summary in the documented form reads as a sentence: a
# summary completes "because you …" (English: "viewed running shoes 3 times this month")
# or "weil Sie …" (German, verb last: "sich dreimal Laufschuhe angesehen haben"). Every
# other variable part (a category label, a rule, an item name from another language)
# follows a colon or stands in quotes, so no template depends on its grammar.
TEXT = {
    "en": {
        "because_you": "You're seeing {item} because you {summary}.",
        "based_on": "You're seeing {item} based on this information about you: {categories}.",
        "by_rule": "You're seeing {item}, chosen by this rule: {rule}.",
        "not_personal": "You're seeing {item}. We did not use information about you to "
                        "choose it.",
        "this": "this",
        "quoted": "“{name}”",
        "and": "and",
        "lead_ins": ("because you ", "you "),
        "stop_using": "Stop using {label}",
        "personalization_off": "Turn off personalization",
        "preference_center": "Review all your privacy choices",
        "without_consent": "This was used although you had not allowed it at the time. "
                           "We have recorded this.",
    },
    "de": {
        "because_you": "Sie sehen {item}, weil Sie {summary}.",
        "based_on": "Sie sehen {item} auf Grundlage dieser Informationen über Sie: "
                    "{categories}.",
        "by_rule": "Sie sehen {item}, ausgewählt nach dieser Regel: {rule}.",
        "not_personal": "Sie sehen {item}. Für diese Auswahl haben wir keine Informationen "
                        "über Sie verwendet.",
        "this": "diesen Inhalt",
        "quoted": "„{name}“",
        "and": "und",
        "lead_ins": ("weil Sie ", "Sie "),
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
    return text.strip().rstrip(".").strip()


def _phrase(summary: str, language: str) -> str:
    """A summary as the end of "because you …" / "weil Sie …": without the lead-in words
    an engine may have written itself, and (in English) without a capital first word."""
    phrase = _sentence_tail(summary)
    for lead_in in TEXT[language]["lead_ins"]:
        if phrase.lower().startswith(lead_in.lower()):
            phrase = phrase[len(lead_in):].lstrip()
            break
    first = phrase.split(" ", 1)[0]
    if language == "en" and first[:1].isupper() and first[1:].islower():
        phrase = phrase[:1].lower() + phrase[1:]
    return phrase


def item_name(item: dict, language: str) -> str:
    """How a headline of `language` names the item: its label in that language; a label
    in another language (a plain string counts as English) in quotes; else "this"."""
    t = TEXT[language]
    label = item.get("label")
    own = _in_language(label, language)
    if own and own.strip():
        return own.strip()
    other = _text(label, language)
    if other and other.strip():
        return t["quoted"].format(name=other.strip())
    return t["this"]


def _listed(labels: list[str], language: str) -> str:
    if len(labels) < 2:
        return "".join(labels)
    return f"{', '.join(labels[:-1])} {TEXT[language]['and']} {labels[-1]}"


def headline(item: dict, signals_used: list[dict], rule: dict | None, labels: list[str],
             language: str) -> str:
    """The one sentence that says why: from the strongest summary in `language`, else the
    categories' labels, else the rule (in `language`), else that nothing personal was used."""
    t = TEXT[language]
    item_text = item_name(item, language)
    strongest = _strongest(signals_used, language)
    summary = _phrase(_in_language(strongest["summary"], language), language) \
        if strongest is not None else ""
    rule_text = _in_language((rule or {}).get("description"), language)
    if summary:
        return t["because_you"].format(item=item_text, summary=summary)
    if labels:
        return t["based_on"].format(item=item_text, categories=_listed(labels, language))
    if rule_text and _sentence_tail(rule_text):
        return t["by_rule"].format(item=item_text, rule=_sentence_tail(rule_text))
    return t["not_personal"].format(item=item_text)


def explain(decision, policy: Policy, language: str, recipe=None) -> dict:
    """The explanation of one decision: headline, every reason, and the controls; with
    the recipe it followed (`decisions.RecipeUse`: its name and plain-language action)."""
    t = TEXT[language]
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
    labels = list(dict.fromkeys(r["label"] for r in reasons))
    title = headline(decision.item, decision.signals_used, decision.rule, labels, language)
    controls = []
    for reason in {r["category"]: r for r in reasons}.values():
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
        "headline": title,
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
