"""The pages for people: the preference page and "why am I seeing this", server-rendered.

Entries like the JSON views: each opens the link in its URL (`links.open_link`), calls
the ledger and decisions services, and renders a template on the shared layout. A link
that does not open is a `403` page that names no one. Forms post back to the same URL
with a CSRF token bound to the link (`consentry.html.csrf_token`) and are answered with
a redirect (`303`) to the page, so reloading never writes twice.
"""

from __future__ import annotations

import functools
import json
import logging
import math

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from consent import decisions, ledger, notices
from consent.explain import explain, pick_language
from consent.state import ConsentState
from consentry import auth
from consentry.clock import utcnow
from consentry.db import get_session
from consentry.errors import DomainError, NotFound, handle_unexpected
from consentry.html import CSRF_FIELD, csrf_token, csrf_valid
from consentry.policy import get_policy
from consentry.secretstore import get_keys
from pages import form
from pages.links import PAGE_SCOPES, Link, LinkRefused, open_link, reissue
from pages.text import TEXT, format_date
from retention import service as retention

bp = Blueprint("pages", __name__, url_prefix="/pages", template_folder="templates")
log = logging.getLogger("consentry.pages")

RECENT_EXPLANATIONS = 10
ACTIONS = ("deny_category", "personalization_off")


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
        controller=policy.controller, return_url=back,
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
    """The person's preference page: every choice, why it stands, recent explanations."""
    _require("preferences:read")
    language, policy, session = _language(), get_policy(), get_session()
    now = utcnow()
    state = ledger.load_state(session, link.subject_id) or ConsentState()
    answer = ledger.describe_state(link.subject_id, state, policy, now, language=language)
    gpc_now = ledger.gpc_signal(request.headers.getlist("Sec-GPC"))
    switches = form.switch_controls(state, language, gpc_now)
    purposes = form.purpose_controls(answer["entries"], policy, language)
    receipt = _receipt_shown(link.subject_id)
    notice = notices.notice_status(session, policy, link.subject_id)
    recent = []
    page, _ = decisions.recent_decisions(session, link.subject_id, None, RECENT_EXPLANATIONS,
                                         None) if may("explanations:read") else ([], None)
    for decision in page:
        explanation_link = reissue(get_keys(), link, page="explanation",
                                   decision_id=decision.decision_id, now=now)
        recent.append({"headline": explain(decision, policy, language)["headline"],
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
        notice_field=form.NOTICE_FIELD, may_save=may("preferences:write"))


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
    bulk = form.bulk_choices(policy, request.form)
    choices, switches = (bulk, {}) if bulk is not None else form.changes(
        policy, request.form, request.form[form.SHOWN_FIELD], locked)
    state = ledger.load_state(session, link.subject_id) or ConsentState()
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


def _notice_seen(policy) -> str | None:
    """The recorded notice version the submitted page showed, or None (none shown, or
    the form names none the service knows)."""
    return notices.recorded_version(get_session(), policy,
                                    request.form.get(form.NOTICE_FIELD))


@bp.get("/explanations/<token>")
@opened_by_link("explanation")
def explanation(link: Link):
    """Why the person saw one thing, and buttons that act on it at once."""
    language = _language()
    decision = decisions.get_decision(get_session(), link.subject_id, link.decision_id or "")
    answer = decisions.explain_decision(get_session(), decision, get_policy(), language,
                                        current_app.extensions.get(decisions.RECIPE_LOOKUP))
    done = None
    pressed = request.args.get("done", "")
    for control in answer["controls"]:
        if control["action"] in ACTIONS and _button_name(control) == pressed:
            done = _done_text(control, answer, language)
    buttons = [{**c, "name": _button_name(c)} for c in answer["controls"]
               if c["action"] in ACTIONS] if may("preferences:write") else []
    links = [c for c in answer["controls"] if c["action"] == "open_preference_center"]
    return _render("pages/explanation.html", link, explanation=answer, buttons=buttons,
                   links=links, done=done, receipt=_receipt_shown(link.subject_id))


@bp.post("/explanations/<token>")
@opened_by_link("explanation")
def act_on_explanation(link: Link):
    """Record the choice of the button pressed (source `explanation_page`)."""
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
    """The signed receipt of a write, as a JSON download."""
    _require("preferences:read")
    return _receipt_download(link, receipt_id)


@bp.get("/explanations/<token>/receipts/<receipt_id>")
@opened_by_link("explanation")
def explanation_receipt(link: Link, receipt_id: str):
    """The signed receipt of a button's write, as a JSON download."""
    return _receipt_download(link, receipt_id)


def _receipt_download(link: Link, receipt_id: str):
    receipt = ledger.get_receipt(get_session(), link.subject_id, receipt_id)
    body = json.dumps(receipt, ensure_ascii=False, indent=2, sort_keys=True)
    return body, 200, {
        "Content-Type": "application/json; charset=utf-8",
        "Content-Disposition": f'attachment; filename="consent-receipt-{receipt["receipt_id"]}'
                               f'.json"'}


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
    return _error_page(error.status if 400 <= error.status < 500 else 500,
                       "bad_form" if error.status < 500 else "error",
                       tuple(error.fields or ()))


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    status = error.code or 500
    if status == 404:
        return _error_page(404, "not_found")
    return _error_page(status, "bad_form" if status < 500 else "error")


@bp.errorhandler(Exception)
def _unexpected(error: Exception):
    status = handle_unexpected(error).status_code  # logs it with the request id
    return _error_page(status, "error")
