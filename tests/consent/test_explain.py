"""Headlines that read as sentences in English and German, whatever the engine sends."""

import pytest

from consent.explain import headline, item_name

SHOES = {"id": "sku-123", "label": {"en": "Trail running shoes", "de": "Trail-Laufschuhe"}}


def used(summary, category="behavioral", weight=None):
    signal = {"category": category, "summary": summary}
    if weight is not None:
        signal["weight"] = weight
    return signal


# Real summaries in the documented form: English completes "because you …", German
# completes "weil Sie …" with the verb last.
@pytest.mark.parametrize("summary, english, german", [
    ({"en": "viewed running shoes 3 times this month",
      "de": "sich diesen Monat dreimal Laufschuhe angesehen haben"},
     "You're seeing Trail running shoes because you viewed running shoes 3 times this month.",
     "Sie sehen Trail-Laufschuhe, weil Sie sich diesen Monat dreimal Laufschuhe angesehen "
     "haben."),
    ({"en": "bought hiking boots in October", "de": "im Oktober Wanderschuhe gekauft haben"},
     "You're seeing Trail running shoes because you bought hiking boots in October.",
     "Sie sehen Trail-Laufschuhe, weil Sie im Oktober Wanderschuhe gekauft haben."),
    ({"en": "told us you run twice a week",
      "de": "uns gesagt haben, dass Sie zweimal pro Woche laufen"},
     "You're seeing Trail running shoes because you told us you run twice a week.",
     "Sie sehen Trail-Laufschuhe, weil Sie uns gesagt haben, dass Sie zweimal pro Woche "
     "laufen."),
    ({"en": "opened our trail running newsletter",
      "de": "unseren Newsletter zum Trailrunning geöffnet haben"},
     "You're seeing Trail running shoes because you opened our trail running newsletter.",
     "Sie sehen Trail-Laufschuhe, weil Sie unseren Newsletter zum Trailrunning geöffnet "
     "haben."),
    # An engine that wrote the lead-in itself, capitalised, with a full stop.
    ({"en": "You searched for “waterproof trail shoes”.",
      "de": "Sie nach „wasserdichten Trailschuhen“ gesucht haben."},
     "You're seeing Trail running shoes because you searched for “waterproof trail shoes”.",
     "Sie sehen Trail-Laufschuhe, weil Sie nach „wasserdichten Trailschuhen“ gesucht haben."),
    ({"en": "Viewed the Alps collection", "de": "weil Sie die Alpen-Kollektion angesehen haben"},
     "You're seeing Trail running shoes because you viewed the Alps collection.",
     "Sie sehen Trail-Laufschuhe, weil Sie die Alpen-Kollektion angesehen haben."),
])
def test_summaries_complete_the_sentence_in_both_languages(summary, english, german):
    assert headline(SHOES, [used(summary)], None, ["x"], "en") == english
    assert headline(SHOES, [used(summary)], None, ["x"], "de") == german


def test_the_strongest_summary_in_the_language_leads():
    signals = [used({"en": "viewed running shoes"}, weight=0.9),
               used({"en": "bought socks", "de": "Socken gekauft haben"}, "transactional", 0.2)]
    assert headline(SHOES, signals, None, ["x"], "en") == (
        "You're seeing Trail running shoes because you viewed running shoes.")
    assert headline(SHOES, signals, None, ["x"], "de") == (
        "Sie sehen Trail-Laufschuhe, weil Sie Socken gekauft haben.")


def test_an_item_label_in_another_language_is_quoted_never_spliced():
    assert item_name({"label": "Trail running shoes"}, "en") == "Trail running shoes"
    assert item_name({"label": "Trail running shoes"}, "de") == "„Trail running shoes“"
    assert item_name({"label": {"de": "Wandersocken"}}, "en") == "“Wandersocken”"
    assert item_name({"id": "sku-1"}, "en") == "this"
    assert item_name({"id": "sku-1", "label": "  "}, "de") == "diesen Inhalt"


def test_without_a_summary_in_the_language_the_categories_say_why():
    english_only = [used("viewed running shoes"), used(None, "location_precise")]
    labels = ["Ihre Aktivität in unserem Produkt", "Ihr genauer Standort"]
    assert headline({"label": "Trail running shoes"}, english_only, None, labels, "de") == (
        "Sie sehen „Trail running shoes“ auf Grundlage dieser Informationen über Sie: "
        "Ihre Aktivität in unserem Produkt und Ihr genauer Standort.")
    assert headline({}, [used(None)], None, ["Activity in our product"], "en") == (
        "You're seeing this based on this information about you: Activity in our product.")


def test_a_rule_or_nothing_personal():
    rule = {"description": {"en": "the ten best sellers this week",
                            "de": "die zehn meistverkauften Artikel dieser Woche"}}
    assert headline(SHOES, [], rule, [], "en") == (
        "You're seeing Trail running shoes, chosen by this rule: the ten best sellers this week.")
    assert headline(SHOES, [], rule, [], "de") == (
        "Sie sehen Trail-Laufschuhe, ausgewählt nach dieser Regel: die zehn meistverkauften "
        "Artikel dieser Woche.")
    english_rule = {"description": "3+ views of a category → show its top items"}
    assert headline(SHOES, [], english_rule, [], "de") == (
        "Sie sehen Trail-Laufschuhe. Für diese Auswahl haben wir keine Informationen über Sie "
        "verwendet.")
    assert headline({}, [], None, [], "en") == (
        "You're seeing this. We did not use information about you to choose it.")
