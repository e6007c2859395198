"""The words of the pages for people, in English and German. Pure.

Labels of purposes and categories come from the policy; everything else a page says
is here, so both languages stay side by side.
"""

from __future__ import annotations

from datetime import datetime

MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
           "September", "Oktober", "November", "Dezember"),
}

TEXT = {
    "en": {
        "skip": "Skip to content",
        "back": "Back",
        "preferences_title": "Your privacy choices",
        "preferences_intro": "Choose what we may use information about you for. Nothing "
                             "changes until you save.",
        "switches": "Everywhere",
        "switch:personalization_off": "Don't personalize for me",
        "switch:personalization_off:help": "Show me the same as everyone else: nothing "
                                           "chosen using information about me.",
        "switch:sale_sharing_opt_out": "Don't sell or share my data",
        "switch:sale_sharing_opt_out:help": "Don't sell or share information about me, or "
                                            "use it for ads on other companies' sites.",
        "standard": "What we may use",
        "permission": "Only with your permission",
        "permission_help": "Sensitive information: we use it only if you allow it here.",
        "save": "Save my choices",
        "reject_all": "Reject all",
        "allow_all": "Allow all",
        "bulk": "All at once",
        "notice_changed_title": "Our privacy notice has changed.",
        "notice_changed": "Please read it and review your choices below. Saving them "
                          "confirms your choices under the new notice.",
        "notice_line": "How we handle your information:",
        "notice_link": "our privacy notice (version {version})",
        "notice_read": "Read the new privacy notice (version {version})",
        "saved": "Saved.",
        "unchanged": "You changed nothing, so nothing was recorded.",
        "receipt": "Receipt",
        "download_receipt": "Download the signed receipt (JSON)",
        "gpc_detected": "Your browser sends Global Privacy Control (GPC). We honour it: we do "
                        "not sell or share your data while your browser sends it.",
        "gpc_unsaved": "Save to record it with your other choices.",
        "gpc_recorded": "Global Privacy Control honoured: recorded as “Don't sell or share my "
                        "data”.",
        "recent": "Why you saw things recently",
        "recent_none": "Nothing recorded recently.",
        "seen_on": "Shown on {date}",
        "why_title": "Why am I seeing this?",
        "reasons": "What we used",
        "recipe": "What we show in “{name}”",
        "not_allowed_then": "Used without your permission",
        "what_you_can_do": "What you can do",
        "can_do_help": "Each button takes effect at once.",
        "done:deny_category": "Done: we no longer use “{label}” for “{purpose}”.",
        "done:personalization_off": "Done: personalization is off. You see the same as "
                                    "everyone else.",
        "all_choices": "Review all your privacy choices",
        "refused_title": "This link can't be used",
        "refused_text": "The link has expired or is not valid. Go back to the site you came "
                        "from and open your privacy choices again to get a new link.",
        "csrf_title": "Nothing was changed",
        "csrf_text": "This form could not be checked (it may be from an old page). Open the "
                     "link again and try once more.",
        "bad_form_title": "Nothing was changed",
        "bad_form_text": "The form was incomplete. Open the link again and try once more.",
        "not_found_title": "Not found",
        "not_found_text": "This is no longer available.",
        "error_title": "Something went wrong",
        "error_text": "Nothing was changed. Please try again in a moment.",
        "limited_title": "Please wait a moment",
        "limited_text": "Too many changes were sent from here in a short time, so nothing "
                        "was changed. Wait a few seconds, then open the page again.",
        "read_only": "This page shows your choices; changing them is not offered here.",
        "fields_refused": "What could not be read:",
        # why a control is in its state
        "why:explicit_grant": "On: you allowed this on {date}.",
        "why:explicit_denial": "Off: you turned this off on {date}.",
        "why:withdrawn": "Off: you withdrew your permission on {date}.",
        "why:default_opt_out_basis": "On: the default for your region. You can turn it off.",
        "why:requires_explicit_consent": "Off until you allow it: the default for your "
                                         "region.",
        "why:requires_explicit_consent:sensitive": "Off until you allow it.",
        "why:personalization_off": "Off: you chose “Don't personalize for me” on {date}.",
        "why:sale_sharing_opt_out": "Off: you chose “Don't sell or share my data” on {date}.",
        "why:gpc": "Off: your browser's Global Privacy Control asked for this on {date}.",
        "why:purpose_denied": "Off: you turned off {purpose} on {date}.",
        "why:consent_expired": "Off: your permission has expired. Allow it again if you "
                               "wish.",
        "why:switch_on": "On: you chose this on {date}.",
        "why:switch_gpc": "On: your browser's Global Privacy Control asked for this on "
                          "{date}.",
        "why:switch_gpc_now": "On: your browser sends Global Privacy Control, and we honour "
                              "it.",
        "why:switch_off": "Off: your choices below apply.",
    },
    "de": {
        "skip": "Zum Inhalt springen",
        "back": "Zurück",
        "preferences_title": "Ihre Datenschutzeinstellungen",
        "preferences_intro": "Wählen Sie, wofür wir Informationen über Sie verwenden dürfen. "
                             "Erst beim Speichern ändert sich etwas.",
        "switches": "Überall",
        "switch:personalization_off": "Nicht für mich personalisieren",
        "switch:personalization_off:help": "Zeigen Sie mir dasselbe wie allen anderen: "
                                           "nichts, das anhand von Informationen über mich "
                                           "ausgewählt wurde.",
        "switch:sale_sharing_opt_out": "Meine Daten nicht verkaufen oder weitergeben",
        "switch:sale_sharing_opt_out:help": "Informationen über mich weder verkaufen noch "
                                            "weitergeben und nicht für Werbung auf Websites "
                                            "anderer Unternehmen nutzen.",
        "standard": "Was wir verwenden dürfen",
        "permission": "Nur mit Ihrer Erlaubnis",
        "permission_help": "Sensible Informationen: Wir verwenden sie nur, wenn Sie es hier "
                           "erlauben.",
        "save": "Meine Auswahl speichern",
        "reject_all": "Alle ablehnen",
        "allow_all": "Alle erlauben",
        "bulk": "Alles auf einmal",
        "notice_changed_title": "Unsere Datenschutzhinweise haben sich geändert.",
        "notice_changed": "Bitte lesen Sie sie und prüfen Sie unten Ihre Einstellungen. "
                          "Wenn Sie speichern, bestätigen Sie Ihre Einstellungen unter den "
                          "neuen Hinweisen.",
        "notice_line": "Wie wir mit Ihren Informationen umgehen:",
        "notice_link": "unsere Datenschutzhinweise (Version {version})",
        "notice_read": "Die neuen Datenschutzhinweise lesen (Version {version})",
        "saved": "Gespeichert.",
        "unchanged": "Sie haben nichts geändert, daher wurde nichts festgehalten.",
        "receipt": "Beleg",
        "download_receipt": "Signierten Beleg herunterladen (JSON)",
        "gpc_detected": "Ihr Browser sendet Global Privacy Control (GPC). Wir beachten das: "
                        "Solange Ihr Browser es sendet, verkaufen wir Ihre Daten nicht und "
                        "geben sie nicht weiter.",
        "gpc_unsaved": "Speichern Sie, um es mit Ihren übrigen Einstellungen festzuhalten.",
        "gpc_recorded": "Global Privacy Control beachtet: festgehalten als „Meine Daten "
                        "nicht verkaufen oder weitergeben“.",
        "recent": "Warum Sie zuletzt etwas gesehen haben",
        "recent_none": "Zuletzt nichts festgehalten.",
        "seen_on": "Angezeigt am {date}",
        "why_title": "Warum sehe ich das?",
        "reasons": "Was wir verwendet haben",
        "recipe": "Was wir unter „{name}“ zeigen",
        "not_allowed_then": "Ohne Ihre Erlaubnis verwendet",
        "what_you_can_do": "Was Sie tun können",
        "can_do_help": "Jede Schaltfläche wirkt sofort.",
        "done:deny_category": "Erledigt: Wir verwenden „{label}“ nicht mehr für „{purpose}“.",
        "done:personalization_off": "Erledigt: Die Personalisierung ist ausgeschaltet. Sie "
                                    "sehen dasselbe wie alle anderen.",
        "all_choices": "Alle Datenschutzeinstellungen ansehen",
        "refused_title": "Dieser Link kann nicht verwendet werden",
        "refused_text": "Der Link ist abgelaufen oder ungültig. Gehen Sie zurück zu der "
                        "Website, von der Sie kamen, und öffnen Sie Ihre "
                        "Datenschutzeinstellungen erneut, um einen neuen Link zu erhalten.",
        "csrf_title": "Es wurde nichts geändert",
        "csrf_text": "Dieses Formular konnte nicht geprüft werden (vielleicht stammt es von "
                     "einer älteren Seite). Öffnen Sie den Link erneut und versuchen Sie es "
                     "noch einmal.",
        "bad_form_title": "Es wurde nichts geändert",
        "bad_form_text": "Das Formular war unvollständig. Öffnen Sie den Link erneut und "
                         "versuchen Sie es noch einmal.",
        "not_found_title": "Nicht gefunden",
        "not_found_text": "Dies ist nicht mehr verfügbar.",
        "error_title": "Etwas ist schiefgegangen",
        "error_text": "Es wurde nichts geändert. Bitte versuchen Sie es gleich noch einmal.",
        "limited_title": "Bitte warten Sie einen Moment",
        "limited_text": "Von hier wurden in kurzer Zeit zu viele Änderungen gesendet, daher "
                        "wurde nichts geändert. Warten Sie einige Sekunden und öffnen Sie die "
                        "Seite dann erneut.",
        "read_only": "Diese Seite zeigt Ihre Einstellungen; ändern lassen sie sich hier nicht.",
        "fields_refused": "Was nicht gelesen werden konnte:",
        "why:explicit_grant": "An: Sie haben dies am {date} erlaubt.",
        "why:explicit_denial": "Aus: Sie haben dies am {date} ausgeschaltet.",
        "why:withdrawn": "Aus: Sie haben Ihre Erlaubnis am {date} widerrufen.",
        "why:default_opt_out_basis": "An: die Voreinstellung für Ihre Region. Sie können es "
                                     "ausschalten.",
        "why:requires_explicit_consent": "Aus, bis Sie es erlauben: die Voreinstellung für "
                                         "Ihre Region.",
        "why:requires_explicit_consent:sensitive": "Aus, bis Sie es erlauben.",
        "why:personalization_off": "Aus: Sie haben am {date} „Nicht für mich "
                                   "personalisieren“ gewählt.",
        "why:sale_sharing_opt_out": "Aus: Sie haben am {date} „Meine Daten nicht verkaufen "
                                    "oder weitergeben“ gewählt.",
        "why:gpc": "Aus: Global Privacy Control Ihres Browsers hat dies am {date} verlangt.",
        "why:purpose_denied": "Aus: Sie haben {purpose} am {date} ausgeschaltet.",
        "why:consent_expired": "Aus: Ihre Erlaubnis ist abgelaufen. Erlauben Sie es erneut, "
                               "wenn Sie möchten.",
        "why:switch_on": "An: Sie haben dies am {date} gewählt.",
        "why:switch_gpc": "An: Global Privacy Control Ihres Browsers hat dies am {date} "
                          "verlangt.",
        "why:switch_gpc_now": "An: Ihr Browser sendet Global Privacy Control, und wir "
                              "beachten das.",
        "why:switch_off": "Aus: Es gelten Ihre Einstellungen unten.",
    },
}


def format_date(moment: datetime | None, language: str) -> str:
    """A date as people write it: 24 November 2026, 24. November 2026."""
    if moment is None:
        return ""
    month = MONTHS[language][moment.month - 1]
    return f"{moment.day}. {month} {moment.year}" if language == "de" else \
        f"{moment.day} {month} {moment.year}"


def why(reason: str, since: datetime | None, language: str, *, sensitive: bool = False,
        purpose: str = "") -> str:
    """The short line that says why a purpose or category is in its state."""
    t = TEXT[language]
    key = f"why:{reason}"
    if reason == "requires_explicit_consent" and sensitive:
        key += ":sensitive"
    if key not in t:
        key = "why:requires_explicit_consent:sensitive"
    return t[key].format(date=format_date(since, language), purpose=purpose)
