"""The words of the pages for people, in English and German. Pure.

Labels of purposes and categories come from the policy; everything else a page says
is here, so both languages stay side by side.
"""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup, escape

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
        "recipe_label": "What we show under this rule:",
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
        "why:partly_on": "Partly on: you allowed some of it (see below). Untick to turn "
                         "all of it off, everywhere.",
        "why:not_permitted_for_purpose": "Off: never used for this.",
        "basis:opt_in": "We ask for your consent.",
        "basis:opt_out": "We rely on our legitimate interest; you can object.",
        "object": "Object to {purpose}",
        "objected": "You objected: it is off.",
        "details": "What it uses, where, and who receives it",
        "channels": "Where",
        "channels_help": "Choose for each way we reach you.",
        "recipients": "Who receives this information",
        "recipients_none": "No one outside our company.",
        "role:processor": "processor, acting on our behalf",
        "role:third_party": "third party, acting for itself",
        "country": "country",
        "safeguard": "transfer safeguard",
        "receives": "receives",
        # privacy requests
        "requests": "Your data",
        "requests_help": "Ask for a copy of the information we hold about you, or for its "
                         "deletion. We answer by the date shown.",
        "request:access": "Get a copy of my data",
        "request:erasure": "Delete my data",
        "requests_none": "You have not asked for anything yet.",
        "request_type:access": "Copy of your data",
        "request_type:erasure": "Deletion of your data",
        "request_type:objection": "Objection",
        "request_type:rectification": "Correction",
        "request_status:received": "received",
        "request_status:in_progress": "in progress",
        "request_status:extended": "in progress (extended)",
        "request_status:completed": "completed",
        "request_status:rejected": "rejected",
        "request_line": "asked on {received}; answer due by {due}",
        "request_sent": "Your request was received. We answer by {due}.",
        "request_open": "You asked for this already; we answer by {due}.",
        "status": "Status",
        "bundle": "Download your data (zip)",
        "bundle_preparing": "Your copy is being prepared. Open this page again in a few "
                            "minutes.",
        "bundle_gone": "Your copy is no longer available. Ask again for a new one.",
        "bundle_summary": "What it holds",
        "count:consent_events": "choices you made or we recorded",
        "count:receipts": "receipts",
        "count:decisions": "things we chose for you",
        "count:holds": "legal holds",
        "count:erasures": "erasures",
        "count:requests": "requests",
        "count:audit_entries": "entries in our audit log",
        "confirm_erasure_title": "Delete your data?",
        "confirm_erasure_text": "We will delete the information we hold about you, except "
                                "what the law requires us to keep (such as the record of "
                                "your consent choices). This cannot be undone. You can "
                                "still use this page until then.",
        "confirm_erasure": "Yes, delete my data",
        "cancel": "No, go back",
        # receipts
        "receipt_title": "Your receipt",
        "receipt_intro": "What you chose, signed by us so you can prove it.",
        "receipt_when": "When",
        "receipt_notice": "Privacy notice",
        "receipt_notice_none": "none recorded",
        "receipt_chosen": "What you chose",
        "receipt_id": "Receipt number",
        "receipt_check": "How to check it",
        "receipt_check_text": "The receipt is signed with the Ed25519 key {kid}. Download the "
                              "signed receipt and check its signature against our published "
                              "keys:",
        "receipt_keys": "our signing keys",
        "receipt_back": "Back to your privacy choices",
        "status:granted": "allowed", "status:denied": "turned off",
        "status:withdrawn": "permission withdrawn", "status:on": "on", "status:off": "off",
        "on_channel": "by {channel}",
        "via_gpc": "(your browser's Global Privacy Control)",
        # the explanation page, now
        "now:on": "Still on: we may use this now.",
        "now_done": "Already done.",
        "done:nothing": "This was already in effect, so nothing was recorded.",
        "gone_title": "No longer available",
        "gone_text": "This has expired or was deleted.",
        "in_language": "In {language}:",
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
        "recipe_label": "Was wir nach dieser Regel zeigen:",
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
        "why:partly_on": "Teilweise an: Sie haben einiges davon erlaubt (siehe unten). "
                         "Entfernen Sie das Häkchen, um alles überall auszuschalten.",
        "why:not_permitted_for_purpose": "Aus: dafür nie verwendet.",
        "basis:opt_in": "Wir bitten um Ihre Einwilligung.",
        "basis:opt_out": "Wir stützen uns auf unser berechtigtes Interesse; Sie können "
                         "widersprechen.",
        "object": "{purpose} widersprechen",
        "objected": "Sie haben widersprochen: Es ist ausgeschaltet.",
        "details": "Was verwendet wird, wo, und wer es erhält",
        "channels": "Wo",
        "channels_help": "Wählen Sie für jeden Weg, auf dem wir Sie erreichen.",
        "recipients": "Wer diese Informationen erhält",
        "recipients_none": "Niemand außerhalb unseres Unternehmens.",
        "role:processor": "Auftragsverarbeiter, in unserem Auftrag",
        "role:third_party": "Dritter, für eigene Zwecke",
        "country": "Land",
        "safeguard": "Garantie für die Übermittlung",
        "receives": "erhält",
        "requests": "Ihre Daten",
        "requests_help": "Fordern Sie eine Kopie der Informationen an, die wir über Sie "
                         "haben, oder deren Löschung. Wir antworten bis zum angegebenen "
                         "Datum.",
        "request:access": "Kopie meiner Daten anfordern",
        "request:erasure": "Meine Daten löschen",
        "requests_none": "Sie haben noch nichts angefordert.",
        "request_type:access": "Kopie Ihrer Daten",
        "request_type:erasure": "Löschung Ihrer Daten",
        "request_type:objection": "Widerspruch",
        "request_type:rectification": "Berichtigung",
        "request_status:received": "eingegangen",
        "request_status:in_progress": "in Bearbeitung",
        "request_status:extended": "in Bearbeitung (verlängert)",
        "request_status:completed": "erledigt",
        "request_status:rejected": "abgelehnt",
        "request_line": "angefordert am {received}; Antwort bis {due}",
        "request_sent": "Ihre Anfrage ist eingegangen. Wir antworten bis {due}.",
        "request_open": "Das haben Sie bereits angefordert; wir antworten bis {due}.",
        "status": "Stand",
        "bundle": "Ihre Daten herunterladen (ZIP)",
        "bundle_preparing": "Ihre Kopie wird vorbereitet. Öffnen Sie diese Seite in einigen "
                            "Minuten erneut.",
        "bundle_gone": "Ihre Kopie ist nicht mehr verfügbar. Fordern Sie eine neue an.",
        "bundle_summary": "Was sie enthält",
        "count:consent_events": "Entscheidungen, die Sie getroffen haben oder die wir "
                                "festgehalten haben",
        "count:receipts": "Belege",
        "count:decisions": "Dinge, die wir für Sie ausgewählt haben",
        "count:holds": "rechtliche Sperren",
        "count:erasures": "Löschungen",
        "count:requests": "Anfragen",
        "count:audit_entries": "Einträge in unserem Prüfprotokoll",
        "confirm_erasure_title": "Ihre Daten löschen?",
        "confirm_erasure_text": "Wir löschen die Informationen, die wir über Sie haben, "
                                "außer dem, was wir gesetzlich aufbewahren müssen (etwa den "
                                "Nachweis Ihrer Einwilligungen). Das lässt sich nicht "
                                "rückgängig machen. Bis dahin können Sie diese Seite weiter "
                                "nutzen.",
        "confirm_erasure": "Ja, meine Daten löschen",
        "cancel": "Nein, zurück",
        "receipt_title": "Ihr Beleg",
        "receipt_intro": "Was Sie gewählt haben, von uns signiert, damit Sie es nachweisen "
                         "können.",
        "receipt_when": "Wann",
        "receipt_notice": "Datenschutzhinweise",
        "receipt_notice_none": "keine festgehalten",
        "receipt_chosen": "Was Sie gewählt haben",
        "receipt_id": "Belegnummer",
        "receipt_check": "So prüfen Sie ihn",
        "receipt_check_text": "Der Beleg ist mit dem Ed25519-Schlüssel {kid} signiert. Laden "
                              "Sie den signierten Beleg herunter und prüfen Sie die Signatur "
                              "mit unseren veröffentlichten Schlüsseln:",
        "receipt_keys": "unsere Signaturschlüssel",
        "receipt_back": "Zurück zu Ihren Datenschutzeinstellungen",
        "status:granted": "erlaubt", "status:denied": "ausgeschaltet",
        "status:withdrawn": "Erlaubnis widerrufen", "status:on": "an", "status:off": "aus",
        "on_channel": "über {channel}",
        "via_gpc": "(Global Privacy Control Ihres Browsers)",
        "now:on": "Weiterhin an: Wir dürfen dies jetzt verwenden.",
        "now_done": "Bereits erledigt.",
        "done:nothing": "Das galt bereits, daher wurde nichts festgehalten.",
        "gone_title": "Nicht mehr verfügbar",
        "gone_text": "Dies ist abgelaufen oder wurde gelöscht.",
        "in_language": "Auf {language}:",
    },
}


def format_date(moment: datetime | None, language: str) -> str:
    """A date as people write it: 24 November 2026, 24. November 2026."""
    if moment is None:
        return ""
    month = MONTHS[language][moment.month - 1]
    return f"{moment.day}. {month} {moment.year}" if language == "de" else \
        f"{moment.day} {month} {moment.year}"


def foreign(text: str, lang: str) -> Markup:
    """Text in another language than the page's, marked with its own `lang` (WCAG 3.1.2),
    to be quoted or set apart, never spliced into a sentence as if it were the page's."""
    return Markup('<span lang="{}">{}</span>').format(lang, text)


def in_page_language(text: str, lang: str | None, language: str) -> str | Markup:
    """`text`, written in `lang` (None: unknown, taken as the page's), for a page in
    `language`: as is when the languages agree, else marked."""
    return text if lang in (None, language) else foreign(text, lang)


def why(reason: str, since: datetime | None, language: str, *, sensitive: bool = False,
        purpose: str | Markup = "") -> Markup:
    """The short line that says why a purpose or category is in its state (a purpose
    label in another language keeps its `lang` mark)."""
    t = TEXT[language]
    key = f"why:{reason}"
    if reason == "requires_explicit_consent" and sensitive:
        key += ":sensitive"
    if key not in t:
        key = "why:requires_explicit_consent:sensitive"
    return escape(t[key]).format(date=format_date(since, language), purpose=purpose)
