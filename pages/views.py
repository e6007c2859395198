"""The pages for people: the preference page and "why am I seeing this", server-rendered.

Entries like the JSON views: each opens the link in its URL (`links.open_link`), calls
the ledger, decisions and privacy request services, and renders a template on the
shared layout. A link that does not open is a `403` page that names no one; any other
error under /pages/ (an unknown path included) is an HTML page in the link's language.
Forms post back with a CSRF token bound to the link (`consentry.html.csrf_token`) and
are answered with a redirect (`303`) to the page, so reloading never writes twice.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import zipfile
from datetime import datetime

from flask import Blueprint, current_app, g, redirect, render_template, request, send_file, url_for
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from audit import export_jobs
from consent import decisions, ledger, notices
from consent.explain import TEXT as EXPLAIN_TEXT
from consent.explain import explain, item_name, pick_language
from consent.gate import evaluate
from consent.state import ConsentState
from consentry import auth
from consentry.clock import utcnow
from consentry.db import get_session
from consentry.errors import DomainError, NotFound, handle_unexpected
from consentry.html import CSRF_FIELD, csrf_token, csrf_valid
from consentry.policy import BASE_LANGUAGE, get_policy
from consentry.secretstore import get_keys
from governance import privacy_requests
from governance.access import SUMMARY as ACCESS_SUMMARY
from pages import form
from pages.links import PAGE_SCOPES, Link, LinkRefused, open_link, reissue
from pages.text import TEXT, foreign, format_date, in_page_language, why
from retention import service as retention

bp = Blueprint("pages", __name__, url_prefix="/pages", template_folder="templates")
log = logging.getLogger("consentry.pages")

RECENT_EXPLANATIONS = 10
ACTIONS = ("deny_category", "personalization_off")
# What the person may ask for from the preference page, and what the link's key needs
# for it: the company minted the link for a signed-in person (the link is the identity
# check), with the scope that lets it change their consent (API.md, pages/links.py).
REQUEST_TYPES = ("access", "erasure")
REQUESTS_NEED = "preferences:write"
CONFIRM_ERASURE = "confirm:erasure"


class PageError(Exception):
    """A page that answers with an error: its status and the TEXT key of its words."""

    def __init__(self, status: int, key: str):
        super().__init__(key)
        self.status = status
        self.key = key


def opened_by_link(page: str):
    """Let the view run only for a genuine, unexpired link to `page` (the URL's `token`);
    it gets the opened Link instead. Declared as `required_link`, as `scoped` declares
    `required_scope`: no page route ships unprotected."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(token: str, **kwargs):
            link = open_link(get_keys(), token, page, utcnow())
            g.link_scopes = _link_scopes(link)
            g.page_language = link.language or pick_language(request.accept_languages)
            return view(link, **kwargs)

        wrapper.required_link = page
        return wrapper

    return decorator


def _link_scopes(link: Link) -> frozenset[str]:
    """What the link may do on its page: what its minting key may, read again now (a
    revoked key's links open nothing), and nothing once its subject was erased after it
    was issued. A link made by an operator at the shell (no key) may do all."""
    session = get_session()
    if link.key_id is None:
        scopes = frozenset(PAGE_SCOPES)
    else:
        try:
            principal = auth.principal_of_key(session, int(link.key_id))
        except ValueError:
            principal = None
        if principal is None:
            raise LinkRefused("its key is revoked")
        scopes = frozenset(s for s in PAGE_SCOPES if principal.has(s))
    erased = [e.finished_at for e in retention.subject_erasures(session, get_keys(),
                                                                 link.subject_id)
              if e.status == "succeeded" and e.finished_at is not None]
    if link.issued_at is not None and any(at >= link.issued_at for at in erased):
        raise LinkRefused("its subject was erased after it was issued")
    return scopes


def may(scope: str) -> bool:
    """Whether the link this request opened may `scope` (`links.PAGE_SCOPES`)."""
    return scope in g.get("link_scopes", frozenset())


def _require(scope: str) -> None:
    if not may(scope):
        raise PageError(403, "refused")


def _language() -> str:
    return g.get("page_language") or pick_language(request.accept_languages)


class PageLimited(Exception):
    """A page POST over the rate limit: nothing was written."""

    def __init__(self, seconds: float):
        super().__init__(seconds)
        self.seconds = seconds


def _limit(link: Link) -> None:
    """Page POSTs are limited per link and per client address, in the API's limiter
    (CONSENTRY_RATE_LIMIT_PER_SECOND): a 429 page, and nothing written."""
    limiter = current_app.extensions["consentry.ratelimit"]
    wait = max(limiter.retry_after("page-link:" + get_keys().keyed_hash("link", link.token)),
               limiter.retry_after(f"page-address:{request.remote_addr or '-'}"))
    if wait > 0:
        raise PageLimited(wait)


def _check_csrf(link: Link) -> None:
    if not csrf_valid(get_keys(), link.token, request.form.get(CSRF_FIELD)):
        raise PageError(403, "csrf")


def _actor(link: Link) -> str:
    """Who wrote, for the audit log: the person, through a link the named key asked for.
    People are shown the role instead (`consentry.auth.role_label`)."""
    return f"page-link:{link.issued_by}"[:100]


def _evidence() -> dict | None:
    agent = request.user_agent.string
    return {"user_agent": agent} if agent else None


def _render(template: str, link: Link | None = None, status: int = 200, **context):
    language = _language()
    policy = get_policy()
    # The origin was checked when the link was issued; a policy changed since may have
    # dropped it.
    back = link.return_url if link and link.return_url \
        and policy.allows_page_url(link.return_url) else None
    return render_template(
        template, language=language, t=TEXT[language], skip_label=TEXT[language]["skip"],
        controller=policy.controller, brand=policy.pages.brand_name or policy.controller,
        look=policy.pages, return_url=back,
        csrf_field=CSRF_FIELD, csrf=csrf_token(get_keys(), link.token) if link else "",
        date=lambda moment: format_date(moment, language), **context), status, {
            "Content-Language": language}


def _receipt_shown(subject_id: str) -> dict | None:
    """The receipt named by `?receipt=` if it is this subject's, else None."""
    receipt_id = request.args.get("receipt")
    if not receipt_id:
        return None
    try:
        return ledger.get_receipt(get_session(), subject_id, receipt_id)
    except NotFound:
        return None


@bp.get("/preferences/<token>")
@opened_by_link("preferences")
def preferences(link: Link):
    """The person's preference page: every choice, why it stands, what the law allows and
    who receives their data, their privacy requests, recent explanations."""
    _require("preferences:read")
    language, policy, session = _language(), get_policy(), get_session()
    now = utcnow()
    state = ledger.load_state(session, link.subject_id) or ConsentState()
    gpc_now = ledger.gpc_signal(request.headers.getlist("Sec-GPC"))
    switches = form.switch_controls(state, language, gpc_now)
    purposes = form.purpose_controls(state, policy, language, now,
                                     policy.jurisdiction(state.jurisdiction).id)
    receipt = _receipt_shown(link.subject_id)
    notice = notices.notice_status(session, policy, link.subject_id)
    recent = []
    page, _ = decisions.recent_decisions(session, link.subject_id, None, RECENT_EXPLANATIONS,
                                         None) if may("explanations:read") else ([], None)
    for decision in page:
        explanation_link = reissue(get_keys(), link, page="explanation",
                                   decision_id=decision.decision_id, now=now)
        recent.append({"headline": _headline(decision, policy, language),
                       "decided_at": decision.decided_at,
                       "url": url_for(".explanation", token=explanation_link.token)})
    return _render(
        "pages/preferences.html", link, switches=switches, purposes=purposes,
        shown=form.shown_value(form.all_controls(switches, purposes)),
        shown_field=form.SHOWN_FIELD, gpc_now=gpc_now, gpc_recorded=state.switch_on("gpc"),
        receipt=receipt, unchanged=request.args.get("saved") == "nothing",
        gpc_in_receipt=bool(receipt) and any(c.get("source") == "gpc"
                                             for c in receipt["choices"]),
        recent=recent, notice=notice["notice"], reconsent=notice["reconsent_needed"],
        notice_field=form.NOTICE_FIELD, may_save=may("preferences:write"),
        requests=_requests_shown(link, now), may_request=may(REQUESTS_NEED),
        asked=_asked(link), request_types=REQUEST_TYPES)


@bp.post("/preferences/<token>")
@opened_by_link("preferences")
def save_preferences(link: Link):
    """Record every box the person changed, in one write with one receipt."""
    _check_csrf(link)
    _require("preferences:write")
    _limit(link)
    if form.SHOWN_FIELD not in request.form:
        raise PageError(400, "bad_form")
    policy, session = get_policy(), get_session()
    gpc_now = ledger.gpc_signal(request.headers.getlist("Sec-GPC"))
    locked = frozenset({"switch:sale_sharing_opt_out"}) if gpc_now else frozenset()
    state = ledger.load_state(session, link.subject_id) or ConsentState()
    bulk = form.bulk_choices(policy, request.form, state.jurisdiction)
    if bulk is not None and len(bulk) == 1 and _objected_already(state, bulk[0]):
        bulk = []  # "Object" again: the objection stands, nothing to record
    choices, switches = (bulk, {}) if bulk is not None else form.changes(
        policy, request.form, request.form[form.SHOWN_FIELD], locked)
    seen = _notice_seen(policy)
    if bulk is None and seen is not None and notices.notice_status(
            session, policy, link.subject_id)["reconsent_needed"]:
        choices = form.reaffirmed(state, choices)
    if not (choices or switches or (gpc_now and not state.switch_on("gpc"))):
        return redirect(url_for(".preferences", token=link.token, saved="nothing"), 303)
    _, receipt = ledger.record_choices(
        session, get_keys(), policy, link.subject_id, choices=choices, switches=switches,
        source="preference_page", actor=_actor(link), evidence=_evidence(), gpc=gpc_now,
        notice_version=seen, language=_language())
    return redirect(url_for(".preferences", token=link.token, receipt=receipt["receipt_id"]), 303)


def _objected_already(state: ConsentState, choice: ledger.ChoiceInput) -> bool:
    current = state.choices.get((choice.purpose, None, None))
    return choice.status == "denied" and choice.category is None and choice.channel is None \
        and current is not None and current.status == "denied"


@bp.post("/preferences/<token>/requests")
@opened_by_link("preferences")
def ask(link: Link):
    """A privacy request from the page (`request:access`, `request:erasure`), source
    `preference_page`. Erasure is confirmed first: `request:erasure` answers the
    confirmation page, whose `confirm:erasure` records it. One open request of a type is
    enough: asking again shows the one open."""
    _check_csrf(link)
    _require(REQUESTS_NEED)
    if CONFIRM_ERASURE in request.form:
        wanted = "erasure"
    else:
        pressed = [t for t in REQUEST_TYPES if f"request:{t}" in request.form]
        if len(pressed) != 1:
            raise PageError(400, "bad_form")
        wanted = pressed[0]
        if wanted == "erasure":
            return _render("pages/confirm_erasure.html", link, confirm_name=CONFIRM_ERASURE)
    _limit(link)
    session, policy = get_session(), get_policy()
    open_one = next((r for r in privacy_requests.subject_requests(session, link.subject_id)
                     if r.type == wanted and r.status in privacy_requests.OPEN), None)
    if open_one is None:
        state = ledger.load_state(session, link.subject_id) or ConsentState()
        open_one = privacy_requests.create_request(
            session, get_keys(), policy, subject_id=link.subject_id, type=wanted,
            jurisdiction=policy.jurisdiction(state.jurisdiction).id, source="preference_page",
            actor=_actor(link))
    return redirect(url_for(".preferences", token=link.token, asked=open_one.id,
                            _anchor="requests"), 303)


def _asked(link: Link) -> dict | None:
    """The request named by `?asked=` if it is this subject's: what the page confirms."""
    asked = request.args.get("asked")
    if not asked:
        return None
    try:
        row = privacy_requests.get_request(get_session(), asked)
    except NotFound:
        return None
    return {"id": row.id, "due_at": row.due_at} if row.subject_id == link.subject_id else None


def _requests_shown(link: Link, now) -> list[dict]:
    """The subject's requests, newest first, each with its status and due date; a
    completed access request with its bundle's state and a summary of it."""
    session = get_session()
    shown = []
    for row in reversed(privacy_requests.subject_requests(session, link.subject_id)):
        document = privacy_requests.request_document(session, row, now=now,
                                                     with_history=False)
        item = {"id": row.id, "type": row.type, "status": row.status,
                "received_at": row.received_at, "due_at": row.due_at, "bundle": None}
        if row.type == "access" and row.status == privacy_requests.COMPLETED \
                and row.export_id is not None:
            state = document.get("export_status")
            item["bundle"] = {"state": state, "summary": _bundle_summary(row.export_id)
                              if state == "ready" else None}
        shown.append(item)
    return shown


def _bundle_summary(export_id: str) -> dict | None:
    """The counts of an access bundle's summary, read from the bundle itself."""
    try:
        record = export_jobs.find_export(get_session(), export_id)
        with zipfile.ZipFile(record.path) as bundle:
            summary = json.loads(bundle.read(ACCESS_SUMMARY))
    except (DomainError, OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return summary.get("counts")


@bp.get("/preferences/<token>/requests/<request_id>/bundle")
@opened_by_link("preferences")
def request_bundle(link: Link, request_id: str):
    """The subject access bundle of the person's completed access request (zip)."""
    _require("preferences:read")
    session = get_session()
    row = privacy_requests.get_request(session, request_id)
    if row.subject_id != link.subject_id or row.type != "access" or row.export_id is None:
        raise NotFound("No such bundle for this subject.")
    if export_jobs.describe_export(session, row.export_id)["state"] in ("queued", "running"):
        raise NotFound("The bundle is still being written.")
    found = export_jobs.find_export(session, row.export_id)  # 404, 409 failed, 410 gone
    return send_file(found.path, mimetype="application/zip", as_attachment=True,
                     download_name=export_jobs.download_name(found))


def _notice_seen(policy) -> str | None:
    """The recorded notice version the submitted page showed, or None (none shown, or
    the form names none the service knows)."""
    return notices.recorded_version(get_session(), policy,
                                    request.form.get(form.NOTICE_FIELD))


@bp.get("/explanations/<token>")
@opened_by_link("explanation")
def explanation(link: Link):
    """Why the person saw one thing, whether each reason is still in use, and buttons that
    act on it at once (shown as done when already in effect)."""
    language, policy, session = _language(), get_policy(), get_session()
    now = utcnow()
    decision = decisions.get_decision(session, link.subject_id, link.decision_id or "")
    answer = decisions.explain_decision(session, decision, policy, language,
                                        current_app.extensions.get(decisions.RECIPE_LOOKUP))
    state = ledger.load_state(session, link.subject_id) or ConsentState()
    now_line = _present(state, decision, policy, language, now)
    reasons = [{**r, "label": in_page_language(r["label"], _label_language(
                    policy.categories.get(r["category"]), language), language),
                "summary": _summary(r["summary"], signal.get("summary"), language),
                "now": now_line[r["category"]]}
               for r, signal in zip(answer["reasons"], decision.signals_used, strict=True)]
    done = None
    pressed = request.args.get("done", "")
    for control in answer["controls"]:
        if control["action"] in ACTIONS and _button_name(control) == pressed:
            done = _done_text(control, answer, language)
    buttons = [{**c, "name": _button_name(c), "in_effect": _in_effect(c, state, decision,
                                                                       policy, now)}
               for c in answer["controls"]
               if c["action"] in ACTIONS] if may("preferences:write") else []
    review = None
    if may("preferences:read"):  # the person's own page, never the policy's URL
        own = reissue(get_keys(), link, page="preferences", decision_id=None, now=now)
        review = url_for(".preferences", token=own.token)
    recipe = answer["recipe"] and {
        "name": in_page_language(answer["recipe"]["name"], BASE_LANGUAGE, language),
        "action": in_page_language(answer["recipe"]["action"], BASE_LANGUAGE, language)}
    return _render("pages/explanation.html", link, explanation=answer,
                   headline=_headline(decision, policy, language), reasons=reasons,
                   recipe=recipe, buttons=buttons, review=review, done=done,
                   nothing=request.args.get("saved") == "nothing",
                   receipt=_receipt_shown(link.subject_id))


@bp.post("/explanations/<token>")
@opened_by_link("explanation")
def act_on_explanation(link: Link):
    """Record the choice of the button pressed (source `explanation_page`); nothing when
    it is in effect already (no event, no receipt)."""
    _check_csrf(link)
    _require("preferences:write")
    _limit(link)
    session, policy = get_session(), get_policy()
    decision = decisions.get_decision(session, link.subject_id, link.decision_id or "")
    controls = {_button_name(c): c for c in explain(decision, policy, _language())["controls"]
                if c["action"] in ACTIONS}
    pressed = [name for name in request.form if name in controls]
    if len(pressed) != 1:
        raise PageError(400, "bad_form")
    control = controls[pressed[0]]
    state = ledger.load_state(session, link.subject_id) or ConsentState()
    if _in_effect(control, state, decision, policy, utcnow()):
        return redirect(url_for(".explanation", token=link.token, done=pressed[0],
                                saved="nothing"), 303)
    gpc_now = ledger.gpc_signal(request.headers.getlist("Sec-GPC"))
    if control["action"] == "deny_category":
        _, receipt = ledger.record_choices(
            session, get_keys(), policy, link.subject_id,
            choices=[ledger.ChoiceInput(decision.purpose, "denied",
                                        category=control["category"])],
            source="explanation_page", actor=_actor(link), evidence=_evidence(), gpc=gpc_now,
            language=_language())
    else:
        _, receipt, _kept = ledger.set_opt_out(
            session, get_keys(), policy, link.subject_id, scope="personalization", on=True,
            source="explanation_page", actor=_actor(link), gpc=gpc_now, language=_language())
    return redirect(url_for(".explanation", token=link.token, done=pressed[0],
                            receipt=receipt["receipt_id"]), 303)


def _present(state: ConsentState, decision, policy, language: str, now) -> dict[str, Markup]:
    """For each category the decision used: whether the gate allows it for the decision's
    purpose now ("still on"), else why not ("you turned this off on ...")."""
    t = TEXT[language]
    categories = list(dict.fromkeys(s["category"] for s in decision.signals_used))
    purpose = policy.purposes.get(decision.purpose)
    label = form.label(purpose, language) if purpose else decision.purpose
    lines = {}
    for verdict in evaluate(state, policy, decision.purpose, None, categories, now).verdicts:
        category = policy.categories.get(verdict.category)
        lines[verdict.category] = escape(t["now:on"]) if verdict.allowed else why(
            verdict.reason, verdict.since, language, purpose=label,
            sensitive=category is not None and category.sensitivity != "standard")
    return lines


def _in_effect(control: dict, state: ConsentState, decision, policy, now) -> bool:
    """Whether pressing `control` would change nothing: personalization is off already,
    or the category is not used for the decision's purpose now."""
    if control["action"] == "personalization_off":
        return state.switch_on("personalization_off")
    verdicts = evaluate(state, policy, decision.purpose, None, [control["category"]],
                        now).verdicts
    return not verdicts[0].allowed


def _label_language(thing, language: str) -> str | None:
    if thing is None or language == BASE_LANGUAGE or language in thing.labels:
        return None
    return BASE_LANGUAGE


def _summary(shown: str | None, sent, language: str) -> str | Markup | None:
    """A reason's summary as the engine sent it: in the page's language when sent in it
    (both languages are used when sent), else marked with its own (a plain string is
    English, a map's first language is the fallback `explain` took)."""
    if not shown:
        return shown
    if isinstance(sent, dict):
        lang = language if sent.get(language) == shown else next(
            (k for k, v in sent.items() if v == shown), BASE_LANGUAGE)
    else:
        lang = BASE_LANGUAGE
    return in_page_language(shown, lang, language)


def _headline(decision, policy, language: str) -> str | Markup:
    """The explanation's headline; an item name only in another language (which
    `explain` quotes) keeps its own `lang`."""
    title = explain(decision, policy, language)["headline"]
    label = decision.item.get("label")
    if isinstance(label, dict) and (label.get(language) or "").strip():
        return title
    if isinstance(label, str):
        if language == BASE_LANGUAGE or not label.strip():
            return title
        name, lang = label.strip(), BASE_LANGUAGE
    elif isinstance(label, dict):
        lang, name = next(((k, v.strip()) for k, v in sorted(
            label.items(), key=lambda kv: kv[0] != BASE_LANGUAGE)
            if isinstance(v, str) and v.strip()), (None, ""))
        if not name or item_name(decision.item, language) != EXPLAIN_TEXT[language][
                "quoted"].format(name=name):
            return title
    else:
        return title
    before, _, after = title.partition(name)
    return escape(before) + foreign(name, lang) + escape(after)


def _button_name(control: dict) -> str:
    """A control's form name: `deny_category:<category>` or `personalization_off`."""
    if control["action"] == "deny_category":
        return f"deny_category:{control['category']}"
    return control["action"]


def _done_text(control: dict, answer: dict, language: str) -> str:
    t = TEXT[language]
    if control["action"] == "personalization_off":
        return t["done:personalization_off"]
    label = next(r["label"] for r in answer["reasons"] if r["category"] == control["category"])
    purpose = get_policy().purposes[control["purpose"]].label_in(language)
    return t["done:deny_category"].format(label=label, purpose=purpose)


@bp.get("/preferences/<token>/receipts/<receipt_id>")
@opened_by_link("preferences")
def preference_receipt(link: Link, receipt_id: str):
    """A receipt: a readable page to a browser (`Accept: text/html`), the signed JSON with
    `?format=json` or to any other Accept."""
    _require("preferences:read")
    return _receipt(link, receipt_id, ".preference_receipt", ".preferences", "receipt_back")


@bp.get("/explanations/<token>/receipts/<receipt_id>")
@opened_by_link("explanation")
def explanation_receipt(link: Link, receipt_id: str):
    """The receipt of a button's write, as `preference_receipt` answers it."""
    return _receipt(link, receipt_id, ".explanation_receipt", ".explanation", "back")


def _wants_html() -> bool:
    if request.args.get("format") == "json":
        return False
    accept = request.accept_mimetypes
    return accept.best_match(["application/json", "text/html"]) == "text/html" \
        and accept["text/html"] > accept["application/json"]


def _receipt(link: Link, receipt_id: str, endpoint: str, back: str, back_label: str):
    receipt = ledger.get_receipt(get_session(), link.subject_id, receipt_id)
    if _wants_html():
        language = _language()
        return _render("pages/receipt.html", link, receipt=receipt,
                       issued=datetime.fromisoformat(receipt["issued_at"].replace("Z", "+00:00")),
                       back_label=TEXT[language][back_label],
                       choices=_receipt_lines(receipt, language),
                       json_url=url_for(endpoint, token=link.token, receipt_id=receipt_id,
                                        format="json"),
                       back_url=url_for(back, token=link.token),
                       keys_url=url_for("ops.Keys"))
    body = json.dumps(receipt, ensure_ascii=False, indent=2, sort_keys=True)
    return body, 200, {
        "Content-Type": "application/json; charset=utf-8",
        "Content-Disposition": f'attachment; filename="consent-receipt-{receipt["receipt_id"]}'
                               f'.json"'}


def _receipt_lines(receipt: dict, language: str) -> list[Markup]:
    """Each choice of a receipt in words, labels in the receipt's language (marked when
    it is not the page's)."""
    t, policy = TEXT[language], get_policy()
    lang = receipt.get("language") or BASE_LANGUAGE
    lines = []
    for choice in receipt.get("choices", []):
        status = escape(t.get(f"status:{choice.get('status')}", choice.get("status", "")))
        if choice.get("switch"):
            what = escape(t.get(f"switch:{choice['switch']}", choice["switch"]))
            if choice.get("source") == "gpc":
                what += Markup(" ") + escape(t["via_gpc"])
        else:
            parts = [in_page_language(choice.get("purpose_label") or choice.get("purpose", ""),
                                      lang, language)]
            if choice.get("category"):
                parts.append(in_page_language(choice.get("category_label")
                                              or choice["category"], lang, language))
            what = Markup(" · ").join(escape(p) for p in parts)
            channel = choice.get("channel")
            if channel:
                what += Markup(" ") + escape(t["on_channel"]).format(
                    channel=in_page_language(policy.channels.get(channel, channel),
                                             BASE_LANGUAGE, language))
        lines.append(what + Markup(": ") + status)
    return lines


@bp.get("/brand.css")
def brand_css():
    """The policy's accent colour (`[pages] accent_color`), as this origin's stylesheet
    (the CSP allows no inline style). Names no one; needs no link."""
    accent = get_policy().pages.accent_color
    if accent is None:
        raise PageError(404, "not_found")
    return f":root {{ --accent: {accent}; }}\n", 200, {"Content-Type": "text/css; charset=utf-8"}


@bp.get("/brand/logo")
def brand_logo():
    """The policy's logo file (`[pages] logo_file`), served from this origin so a page
    asks no third party for anything; an SVG is sandboxed should it be opened alone."""
    look = get_policy().pages
    if look.logo_path is None:
        raise PageError(404, "not_found")
    response = send_file(look.logo_path, mimetype=look.logo_type, max_age=0)
    response.headers["Content-Security-Policy"] = "default-src 'none'; " \
        "style-src 'unsafe-inline'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/<path:rest>", methods=["GET", "POST"])
def unknown(rest: str):
    """Any other path under /pages/: an HTML 404 page, in the browser's language."""
    raise PageError(404, "not_found")


@bp.after_request
def _private(response):
    """A person's page is theirs: never cached, never indexed."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _error_page(status: int, key: str, fields: tuple[str, ...] = ()):
    t = TEXT[_language()]
    return _render("pages/error.html", status=status, title=t[f"{key}_title"],
                   text=t[f"{key}_text"], fields=fields)


@bp.errorhandler(LinkRefused)
def _refused(_error: LinkRefused):
    g.pop("page_language", None)  # nothing from the token, not even its language
    return _error_page(403, "refused")


@bp.errorhandler(PageError)
def _page_error(error: PageError):
    return _error_page(error.status, error.key)


@bp.errorhandler(PageLimited)
def _limited(error: PageLimited):
    body, status, headers = _error_page(429, "limited")
    return body, status, {**headers, "Retry-After": str(max(1, math.ceil(error.seconds)))}


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError):
    if error.status == 404:
        return _error_page(404, "not_found")
    if error.status == 410:
        return _error_page(410, "gone")
    return _error_page(error.status if 400 <= error.status < 500 else 500,
                       "bad_form" if error.status < 500 else "error",
                       tuple(error.fields or ()))


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    status = error.code or 500
    if status in (404, 410):
        return _error_page(status, "not_found" if status == 404 else "gone")
    return _error_page(status, "bad_form" if status < 500 else "error")


@bp.errorhandler(Exception)
def _unexpected(error: Exception):
    status = handle_unexpected(error).status_code  # logs it with the request id
    return _error_page(status, "error")
