"""The console's pages: sign-in, audit, exports, retention, decisions, reports.

Entries like the API's views: each reads its form with a schema, calls the services
the API calls, and renders a template. A page needs a console session (an API key or a
staff account signed in at /console/login, see console/account.py and console/oidc.py)
whose key or role has the page's scope; every POST needs the session's CSRF token. Every
action names `actor(signed)` in the audit log. Errors are HTML pages carrying the
envelope's code and message.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from werkzeug.exceptions import HTTPException

from audit import checkpoints, export_jobs, service
from audit.actions import ACTIONS, action_prefixes
from audit.export import (
    SUBJECT_ACCESS,
    ExportRequest,
    kept_verification,
    verification_summary,
)
from audit.verify import verify_bundle
from consent import decisions
from consentry import auth, errors
from consentry.clock import rfc3339, utcnow
from consentry.db import get_session
from consentry.html import csrf_token, csrf_valid
from consentry.policy import get_policy
from consentry.secretstore import get_keys
from consentry.signing import keys_by_kid
from consentry.stores import registered_stores
from console import charts, sessions
from console.forms import AccessExportForm, AuditFilterForm, ExportForm, HoldForm, load_form
from governance import reports as governance_reports
from retention import service as retention

log = logging.getLogger("consentry.console")

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")

COOKIE = "consentry_console"
LOGIN_COOKIE = "consentry_console_login"
LOGIN_COOKIE_SECONDS = 1800
DECISIONS_WINDOW_DAYS = 30
READS_ERASURES = ("erasure:write", "audit:read")


@dataclass(frozen=True)
class Page:
    endpoint: str
    label: str
    scopes: tuple[str, ...]


PAGES = (
    Page("console.audit", "Audit log", ("audit:read",)),
    Page("console.exports", "Exports", ("audit:export",)),
    Page("console.retention_page", "Retention", ("retention:admin",)),
    Page("console.decisions_page", "Decisions", ("explanations:read",)),
    Page("console.reports", "Reports", ("reports:read",)),
    Page("console.requests_page", "Requests", ("requests:read",)),  # console/request_pages.py
    Page("console.webhooks_page", "Webhooks", ("admin",)),  # console/webhook_pages.py
)


class Refused(errors.DomainError):
    """A console request refused before it did anything (403 unless said otherwise)."""

    status = 403
    code = "forbidden"


# -- session, scopes, CSRF -----------------------------------------------------------------


def _signed_in() -> sessions.SignedIn | None:
    if "console_session" not in g:
        g.console_session = sessions.find_session(get_session(), request.cookies.get(COOKIE),
                                                  utcnow())
        if g.console_session is not None:
            g.principal = g.console_session.principal  # the request log names the key
    return g.console_session


def _may(signed: sessions.SignedIn, scopes: tuple[str, ...]) -> bool:
    return any(signed.principal.has(s) for s in scopes)


def actor(signed: sessions.SignedIn) -> str:
    """Who the audit log names for a console action: `staff:<email>` or `key:<name>`."""
    return signed.actor


def _who(signed: sessions.SignedIn) -> str:
    if signed.role is not None:
        return f"The staff account {signed.principal.name[6:]!r} (role {signed.role})"
    return f"The key {signed.principal.name!r}"


def _check_csrf(bound_to: str) -> None:
    if not csrf_valid(get_keys(), bound_to, request.form.get("csrf_token")):
        raise Refused("The form's security token is missing or does not match this "
                      "session, so nothing was changed. Reload the page and try again.",
                      code="csrf_failed")


def page(*scopes: str):
    """A console page: needs a session whose key has one of `scopes`; POSTs need CSRF."""
    for scope in scopes:
        if scope != auth.ANY_SCOPE and scope not in auth.SCOPES:
            raise ValueError(f"unknown scope {scope!r}")

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            signed = _signed_in()
            if signed is None:
                if request.method == "GET":
                    return redirect(url_for("console.login", next=request.full_path))
                raise Refused("Your console session has ended, so nothing was changed. "
                              "Sign in again.", code="unauthorized", status=401)
            if request.method == "POST":
                _check_csrf(_csrf_subject(signed))
            if not _may(signed, scopes):
                raise Refused(f"{_who(signed)} lacks the scope "
                              f"{auth.describe_scopes(scopes)} this page needs.")
            return view(signed, *args, **kwargs)

        wrapper.required_scope = scopes[0]
        return wrapper

    return decorator


def _csrf_subject(signed: sessions.SignedIn) -> str:
    return f"console:{signed.token}"


@bp.app_template_filter("ts")
def _format_ts(value) -> str:
    """A timestamp as staff read it: RFC 3339 UTC to the second."""
    if value is None:
        return "—"
    text = value if isinstance(value, str) else rfc3339(value)
    return text.split(".")[0].replace("T", " ").rstrip("Z") + " UTC"


@bp.context_processor
def _common():
    signed = g.get("console_session")
    nav = []
    if signed is not None:
        nav = [(p, _may(signed, p.scopes)) for p in PAGES]
    return {"signed": signed, "nav": nav,
            "csrf_token": csrf_token(get_keys(), _csrf_subject(signed)) if signed else None}


def _render(template: str, status: int = 200, **context) -> Response:
    response = current_app.make_response(render_template(template, **context))
    response.status_code = status
    return response


@bp.errorhandler(errors.DomainError)
def _domain_error(error: errors.DomainError):
    response = _error_page(error.status, error.code, error.message)
    if error.headers:
        response.headers.update(error.headers)
    return response


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    status = error.code or 500
    return _error_page(status, errors.STATUS_CODES.get(status, "error"),
                       error.description or error.name)


@bp.errorhandler(Exception)
def _unexpected(error: Exception):
    answer = errors.handle_unexpected(error)  # logs it with the request id
    detail = answer.get_json()["error"]
    return _error_page(answer.status_code, detail["code"], detail["message"])


def _error_page(status: int, code: str, message: str) -> Response:
    """An HTML page for a browser; the API's envelope for a client that takes no HTML."""
    if not request.accept_mimetypes.accept_html:
        return errors.envelope(status, message, code)
    titles = {401: "Signed out", 403: "Not allowed", 404: "Not found", 409: "Not ready",
              410: "Gone", 422: "Check the form", 429: "Please wait a moment"}
    _signed_in_quietly()
    return _render("console/error.html", status=status, status_code=status, code=code,
                   message=message, title=titles.get(status, "Something went wrong"))


def _signed_in_quietly() -> None:
    """Know the session for the error page's header, if the database answers."""
    try:
        _signed_in()
    except Exception:  # the error page must render even when the database is down
        g.console_session = None


# -- sign in and out -----------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path on this site, else the console home."""
    if target and target.isprintable():  # a CR or LF would split the Location header
        target = target.rstrip("?")
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/console/") \
                and not target.startswith("//"):
            return target
    return url_for("console.home")


def login_form(error: str | None = None, status: int = 200) -> Response:
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = _render("console/login.html", status=status, error=error,
                       login_csrf=csrf_token(get_keys(), f"console-login:{nonce}"),
                       next=_safe_next(request.values.get("next")),
                       email=request.form.get("email", "")[:254] if error else "",
                       sso=oidc.enabled())
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=LOGIN_COOKIE_SECONDS, path="/console",
                        secure=request.is_secure, httponly=True, samesite="Strict")
    return response


def _sign_in_names(account: str) -> tuple[str, str]:
    return (f"console-login-address:{request.remote_addr or '-'}",
            "console-login-account:" + get_keys().keyed_hash("console-login", account))


def limit_sign_in(account: str) -> None:
    """Sign-in attempts are limited per client address and per account (a staff email, or
    a key named by its public prefix, `csk_<id>`), in the API's limiter; failed ones
    (`sign_in_failed`) more tightly, in the same limiter's failure buckets: a 429 page,
    and no session."""
    limiter = current_app.extensions["consentry.ratelimit"]
    failures = current_app.extensions["consentry.signin_failures"]
    names = _sign_in_names(account)
    wait = max(max(failures.waiting(n) for n in names),
               max(limiter.retry_after(n) for n in names))
    if wait > 0:
        raise Refused("Too many sign-in attempts from here or for this account, so this one "
                      "was not tried. Wait a few seconds and try again.", code="rate_limited",
                      status=429, headers={"Retry-After": str(max(1, math.ceil(wait)))})


def sign_in_failed(account: str) -> None:
    """Count a failed sign-in (a wrong key, password or code) against the account and the
    address."""
    failures = current_app.extensions["consentry.signin_failures"]
    for name in _sign_in_names(account):
        failures.retry_after(name)


def set_session_cookie(response: Response, token: str, expires_at) -> Response:
    """Give the browser its session id (or a sign-in stage's)."""
    max_age = max(1, int((expires_at - utcnow()).total_seconds()))
    response.set_cookie(COOKIE, token, max_age=max_age, path="/console",
                        secure=request.is_secure, httponly=True, samesite="Strict")
    response.delete_cookie(LOGIN_COOKIE, path="/console", secure=request.is_secure,
                           httponly=True, samesite="Strict")
    return response


def check_login_csrf() -> None:
    """The sign-in form's CSRF token, bound to its own cookie (there is no session yet)."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce:
        raise Refused("The sign-in form expired or cookies are blocked, so you were not "
                      "signed in. Reload the page and try again.", code="csrf_failed")
    _check_csrf(f"console-login:{nonce}")


@bp.get("/login")
def login():
    """The sign-in form: an API key, or a staff email and password (or SSO)."""
    if _signed_in() is not None:
        return redirect(_safe_next(request.args.get("next")))
    return login_form()


@bp.post("/login")
def login_post():
    """Check the key, or the staff email and password; open a session (or its next sign-in
    stage) and set its cookie, or show the form again."""
    check_login_csrf()
    key = request.form.get("api_key", "").strip()
    if not key and request.form.get("email", "").strip():
        return account.password_sign_in()
    limit_sign_in(key[:13])
    found = auth.authenticate(key) if key else None
    session = get_session()
    principal = auth.principal_of_key(session, found.key_id) if found is not None else None
    if principal is None:
        sign_in_failed(key[:13])
        return login_form("That key is unknown or revoked. Check it and try again.", 401)
    signed = sessions.start_session(session, principal, utcnow())
    response = redirect(_safe_next(request.form.get("next")), code=303)
    log.info("console session opened key=%s", principal.name)
    return set_session_cookie(response, signed.token, signed.expires_at)


@bp.post("/logout")
@page(auth.ANY_SCOPE)
def logout(signed):
    """End the session and forget its cookie."""
    sessions.end_session(get_session(), signed.token)
    response = redirect(url_for("console.login"), code=303)
    response.delete_cookie(COOKIE, path="/console", secure=request.is_secure, httponly=True,
                           samesite="Strict")
    return response


@bp.get("/")
@page(auth.ANY_SCOPE)
def home(signed):
    """The pages this key may open."""
    return _render("console/home.html")


# -- audit ---------------------------------------------------------------------------------


@bp.get("/audit")
@page("audit:read")
def audit(signed):
    """Entries with filters, the chain's head and the latest checkpoints."""
    session, keys = get_session(), get_keys()
    args, problems = load_form(AuditFilterForm(), request.args)
    entries, next_url = [], None
    if args is not None:
        after = service.decode_cursor(args["cursor"]) if args["cursor"] else 0
        rows, position = service.list_entries(
            session, keys, since=args["since"], until=args["until"], action=args["action"],
            subject_id=args["subject_id"], after=after, limit=args["limit"])
        entries = [_readable(service.entry_view(session, keys, r)) for r in rows]
        if position is not None:
            query = {k: v for k, v in request.args.items() if k != "cursor" and v}
            next_url = url_for("console.audit", **query, cursor=service.encode_cursor(position))
    head_seq, head_hash = service.chain_head(session)
    latest = [checkpoints.checkpoint_statement(c) | {"reason": c.reason}
              for c in checkpoints.list_checkpoints(session, None, 5)]
    subject_ref = (keys.subject_ref(args["subject_id"])
                   if args is not None and args["subject_id"] else None)
    return _render("console/audit.html", status=422 if problems else 200,
                   entries=entries, next_url=next_url, problems=problems, form=request.args,
                   actions=ACTIONS, prefixes=action_prefixes(), head_seq=head_seq,
                   head_hash=head_hash, checkpoints=latest, subject_ref=subject_ref,
                   subject_id=args["subject_id"] if args is not None else None,
                   may_export=_may(signed, ("audit:export",)))


def _readable(entry: dict) -> dict:
    """An entry for the table: its clear details apart from the sealed personal fields."""
    clear = {k: v for k, v in entry["details"].items() if k != "personal"}
    return {**entry, "clear_details": clear}


# -- exports -------------------------------------------------------------------------------


@bp.get("/exports")
@page("audit:export")
def exports(signed):
    """The export form and the latest exports."""
    return _exports_page()


def _exports_page(problems: dict | None = None, form=None, status: int = 200,
                  access_problems: dict | None = None) -> Response:
    recent = export_jobs.recent_exports(get_session(), 30)
    return _render("console/exports.html", status=status, exports=recent,
                   problems=problems or {}, form=form or {},
                   access_problems=access_problems or {},
                   access_form=(form if access_problems else None) or {})


@bp.post("/exports")
@page("audit:export")
def exports_post(signed):
    """Queue an export; its page shows it build."""
    values, problems = load_form(ExportForm(), request.form)
    if values is None:
        return _exports_page(problems, request.form, 422)
    job = export_jobs.queue_export(
        get_session(), get_keys(), ExportRequest(exporter=actor(signed), **values))
    return redirect(url_for("console.export_page", export_id=job.id), code=303)


@bp.post("/exports/access")
@page("audit:export")
def access_export_post(signed):
    """Queue a subject access export (GDPR Art. 15) of one person; its page shows it build."""
    values, problems = load_form(AccessExportForm(), request.form)
    if values is None:
        return _exports_page(form=request.form, status=422, access_problems=problems)
    job = export_jobs.queue_export(get_session(), get_keys(), ExportRequest(
        exporter=actor(signed), kind=SUBJECT_ACCESS, **values))
    return redirect(url_for("console.export_page", export_id=job.id), code=303)


@bp.get("/exports/<export_id>")
@page("audit:export")
def export_page(signed, export_id):
    """One export: building (its status region says so), failed, or ready and verified."""
    session = get_session()
    document = export_jobs.describe_export(session, export_id)
    verification = download_name = None
    if document["state"] == "ready":
        record = export_jobs.find_export(session, export_id)
        download_name = export_jobs.download_name(record)
        # verified once, when it was built; a bundle whose file changed since (or built
        # before verifications were kept) is verified again here, as it is now
        verification = kept_verification(record) or verification_summary(
            verify_bundle(record.path, public_keys=keys_by_kid(get_keys().jwks())), utcnow(),
            record.path)
    return _render("console/export.html", export=document, verification=verification,
                   keys_url=url_for("ops.Keys"), download_name=download_name)


@bp.get("/exports/<export_id>/bundle")
@page("audit:export")
def export_download(signed, export_id):
    """The bundle (zip); 410 saying why when it expired or an erasure removed it."""
    session = get_session()
    if export_jobs.describe_export(session, export_id)["state"] in ("queued", "running"):
        raise Refused("The bundle is still being written; its page says when it is "
                      "ready.", code="not_ready", status=409)
    record = export_jobs.find_export(session, export_id)  # 404, 409 failed, 410 gone
    return send_file(record.path, mimetype="application/zip", as_attachment=True,
                     download_name=export_jobs.download_name(record))


# -- retention -----------------------------------------------------------------------------


def _store_names() -> list[str]:
    return list(registered_stores(current_app))


@bp.get("/retention")
@page("retention:admin")
def retention_page(signed):
    """Classes and targets, runs, holds, and erasures with their certificates."""
    prefilled = {"subject_id": request.args["subject_id"]} if request.args.get("subject_id") \
        else None  # "Place a hold" on a person's page
    return _retention_page(signed, form=prefilled)


def _retention_page(signed, problems: dict | None = None, form=None,
                    status: int = 200) -> Response:
    session, policy = get_session(), get_policy()
    described = retention.describe_policy(policy, _store_names(),
                                          current_app.config["RETENTION_CRON"])
    runs, _ = retention.list_runs(session, 15, None)
    holds, _ = retention.list_holds(session, 100, None, include_lifted=True)
    erasures = None
    if _may(signed, READS_ERASURES):
        rows, _ = retention.list_erasures(session, 20, None)
        erasures = [retention.erasure_document(e) for e in rows]
    return _render("console/retention.html", status=status, policy=described,
                   runs=[retention.run_document(r) for r in runs],
                   holds=[retention.hold_document(session, get_keys(), h) for h in holds],
                   erasures=erasures,
                   categories=sorted(policy.categories), problems=problems or {},
                   form=form or {}, done=request.args.get("done"),
                   target_names=retention.target_names(policy, _store_names()))


@bp.post("/retention/runs")
@page("retention:admin")
def dry_run_post(signed):
    """Queue a dry run (of every target, or those ticked); its page shows the report."""
    known = retention.target_names(get_policy(), _store_names())
    run = retention.queue_run(get_session(), get_keys(), known, dry_run=True,
                              targets=request.form.getlist("targets") or None,
                              trigger="console", actor=actor(signed))
    return redirect(url_for("console.run_page", run_id=run.id), code=303)


@bp.get("/retention/runs/<run_id>")
@page("retention:admin")
def run_page(signed, run_id):
    """One run's per-target report; its status region says while it is going."""
    run = retention.run_document(retention.get_run(get_session(), run_id))
    return _render("console/run.html", run=run,
                   working=run["status"] in ("queued", "running"))


@bp.post("/retention/holds")
@page("retention:admin")
def hold_post(signed):
    """Place a legal hold on a subject or a category."""
    values, problems = load_form(HoldForm(), request.form)
    if values is None:
        return _retention_page(signed, problems, request.form, 422)
    try:
        retention.create_hold(get_session(), get_keys(), get_policy(),
                              subject_id=values["subject_id"], category=values["category"],
                              reason=values["reason"], until=values["until"],
                              actor=actor(signed))
    except errors.Invalid as exc:
        return _retention_page(signed, exc.fields or {"_schema": [exc.message]},
                               request.form, 422)
    return redirect(url_for("console.retention_page", done="hold-added") + "#holds", code=303)


@bp.post("/retention/holds/<hold_id>/lift")
@page("retention:admin")
def hold_lift(signed, hold_id):
    """Lift a legal hold once its confirmation page's form says so (`confirm=1`); any
    other post shows that page, naming the erasures the lift would release."""
    confirmation = subjects.lift_confirmed(signed, hold_id)
    if confirmation is not None:
        return confirmation
    return redirect(url_for("console.retention_page", done="hold-lifted") + "#holds", code=303)


@bp.get("/retention/erasures/<erasure_id>")
@page(*READS_ERASURES)
def erasure_page(signed, erasure_id):
    """One erasure: reason, rows per target, what holds kept, the signed certificate."""
    erasure = retention.erasure_document(retention.get_erasure(get_session(), erasure_id),
                                         get_session())
    building = erasure["status"] in ("queued", "running")
    certificate = (json.dumps(erasure["certificate"], indent=2, sort_keys=True,
                              ensure_ascii=False) if erasure["certificate"] else None)
    return _render("console/erasure.html", erasure=erasure, certificate=certificate,
                   working=building, keys_url=url_for("ops.Keys"))


@bp.get("/retention/erasures/<erasure_id>/certificate.json")
@page(*READS_ERASURES)
def erasure_certificate(signed, erasure_id):
    """The signed certificate alone, to keep with the case file."""
    erasure = retention.get_erasure(get_session(), erasure_id)
    if erasure.certificate is None:
        raise Refused("This erasure has no certificate yet: it is signed when the erasure "
                      "is carried out.", code="not_ready", status=409)
    body = json.dumps(erasure.certificate, indent=2, sort_keys=True, ensure_ascii=False)
    return Response(body + "\n", mimetype="application/json", headers={
        "Content-Disposition": f"attachment; filename=erasure-{erasure.id}-certificate.json"})


# -- decisions and reports -----------------------------------------------------------------


@bp.get("/decisions")
@page("explanations:read")
def decisions_page(signed):
    """Violations by category and surface over 30 days, and the transparency summary."""
    session, now = get_session(), utcnow()
    first = (now - timedelta(days=DECISIONS_WINDOW_DAYS - 1)).date()
    since = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=DECISIONS_WINDOW_DAYS - 1)
    rows = decisions.violations_by_day(session, since, now + timedelta(seconds=1))
    by_category: dict = {}
    by_surface: dict = {}
    table: dict[str, dict[str, int]] = {}
    for row in rows:
        for counts, key in ((by_category, (row["day"], row["category"])),
                            (by_surface, (row["day"], row["surface"]))):
            counts[key] = counts.get(key, 0) + row["count"]
        cells = table.setdefault(row["surface"], {})
        cells[row["category"]] = cells.get(row["category"], 0) + row["count"]
    chart = charts.stacked_days(by_category, first, DECISIONS_WINDOW_DAYS)
    surface_chart = charts.stacked_days(by_surface, first, DECISIONS_WINDOW_DAYS)
    categories = [name for name, _color, _total in chart.legend]
    return _render("console/decisions.html", chart=chart, surface_chart=surface_chart,
                   first=first, last=now.date(),
                   surfaces=sorted(table), table=table, categories=categories,
                   transparency=decisions.transparency(session, now),
                   window_days=decisions.TRANSPARENCY_WINDOW.days)


@bp.get("/reports")
@page("reports:read")
def reports(signed):
    """The governance reports: data minimization over the last year, and the record of
    processing activities with its DPIA screening (printable), each with a CSV download."""
    session, policy, now = get_session(), get_policy(), utcnow()
    return _render("console/reports.html",
                   minimization=governance_reports.minimization(session, policy, None, None,
                                                                now),
                   processing=governance_reports.processing_records(session, policy, now))


@bp.get("/reports/processing-records")
@page("reports:read")
def processing_records_page(signed):
    """The record of processing activities (GDPR Art. 30(1)) as a page to print or read on
    a phone: the controller and DPO, security measures, and per purpose its data subjects,
    data, legal basis in the law's words, recipients, transfers, retention and DPIA."""
    policy = get_policy()
    return _render("console/processing_records.html",
                   record=governance_reports.processing_records(get_session(), policy,
                                                                utcnow()),
                   jurisdictions={j.id: j.label for j in policy.jurisdictions.values()},
                   channels=policy.channels)


@bp.get("/reports/<name>.csv")
@page("reports:read")
def report_csv(signed, name: str):
    """A governance report as CSV."""
    session, policy, now = get_session(), get_policy(), utcnow()
    if name == "data-minimization":
        body = governance_reports.minimization_csv(
            governance_reports.minimization(session, policy, None, None, now))
    elif name == "processing-records":
        body = governance_reports.processing_records_csv(
            governance_reports.processing_records(session, policy, now))
    else:
        raise errors.NotFound(f"No report {name!r}.")
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}.csv"'})


# The page per person and the confirmations live in console/subjects.py, staff sign-in in
# console/account.py and console/oidc.py, all on this blueprint.
from console import account, oidc, subjects  # noqa: E402,F401
