"""The console's privacy requests: the queue with its deadlines, and one page per request.

Pages of the console blueprint (console.views), gated exactly as the API: reading needs
`requests:read`, every change `requests:write`. They call governance.privacy_requests,
as the JSON views do; the actor is `actor(signed)`.
"""

from __future__ import annotations

from flask import Response, g, redirect, request, url_for

from consentry import errors
from consentry.clock import utcnow
from consentry.db import get_session
from consentry.policy import get_policy
from consentry.secretstore import get_keys
from console.forms import (
    RequestExtendForm,
    RequestForm,
    RequestQueueForm,
    RequestTransitionForm,
    load_form,
)
from console.views import READS_ERASURES, _may, _render, actor, bp, page
from governance import privacy_requests as requests_service

QUEUE_PAGE = 50


def _filters(values: dict) -> dict:
    status = values["status"]
    return {"status": None if status == "all" else status, "type": values["type"],
            "jurisdiction": values["jurisdiction"]}


def _queue_page(signed, problems: dict | None = None, form=None, status: int = 200) -> Response:
    session, policy, now = get_session(), get_policy(), utcnow()
    values, filter_problems = load_form(RequestQueueForm(), request.args)
    rows, next_url = [], None
    if values is not None:
        rows, cursor = requests_service.list_requests(session, limit=QUEUE_PAGE,
                                                      cursor=values["cursor"],
                                                      **_filters(values))
        if cursor is not None:
            query = {k: v for k, v in request.args.items() if k != "cursor" and v}
            next_url = url_for("console.requests_page", **query, cursor=cursor)
    csv_query = {k: v for k, v in request.args.items() if k != "cursor" and v}
    return _render("console/requests.html",
                   status=422 if filter_problems else status,
                   requests=[requests_service.request_document(session, r, now=now,
                                                               with_history=False)
                             for r in rows],
                   next_url=next_url, filters=request.args, filter_problems=filter_problems,
                   counts=requests_service.queue_counts(session, now),
                   csv_url=url_for("console.requests_csv", **csv_query),
                   types=requests_service.TYPES, statuses=requests_service.STATUSES,
                   jurisdictions=list(policy.jurisdictions.values()),
                   default_jurisdiction=policy.default_jurisdiction,
                   may_write=_may(signed, ("requests:write",)),
                   problems=problems or {}, form=form or {})


@bp.get("/requests")
@page("requests:read")
def requests_page(signed):
    """The queue: open requests soonest due first, days left, overdue ones marked."""
    return _queue_page(signed)


@bp.get("/requests.csv")
@page("requests:read")
def requests_csv(signed):
    """The queue (with the page's filters) as a spreadsheet."""
    values, problems = load_form(RequestQueueForm(), request.args)
    if values is None:
        raise errors.Invalid("Check the filters.", fields=problems)
    now = utcnow()
    rows = requests_service.all_requests(get_session(), **_filters(values))
    return Response(requests_service.requests_csv(rows, now), mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="privacy-requests.csv"'})


@bp.post("/requests")
@page("requests:write")
def request_post(signed):
    """Record a request taken by staff; its page follows."""
    values, problems = load_form(RequestForm(), request.form)
    if values is None:
        return _queue_page(signed, problems, request.form, 422)
    try:
        row = requests_service.create_request(get_session(), get_keys(), get_policy(),
                                              actor=actor(signed), **values)
    except errors.Invalid as exc:
        return _queue_page(signed, exc.fields or {"_schema": [exc.message]}, request.form, 422)
    return redirect(url_for("console.request_page", request_id=row.id, done="created"),
                    code=303)


def _request_page(signed, request_id: str, problems: dict | None = None, form=None,
                  status: int = 200, which: str | None = None) -> Response:
    session = get_session()
    document = requests_service.request_document(
        session, requests_service.get_request(session, request_id))
    return _render("console/request.html", status=status, req=document,
                   may_write=_may(signed, ("requests:write",)),
                   may_export=_may(signed, ("audit:export",)),
                   may_erasures=_may(signed, READS_ERASURES),
                   targets=requests_service.TARGETS, done=request.args.get("done"),
                   problems=problems or {}, form=form or {}, which=which)


@bp.get("/requests/<request_id>")
@page("requests:read")
def request_page(signed, request_id):
    """One request: its deadline, history, and the bundle or erasure that answers it."""
    return _request_page(signed, request_id)


@bp.post("/requests/<request_id>/transition")
@page("requests:write")
def request_transition(signed, request_id):
    """Move the request on (in progress, completed, rejected with a reason)."""
    values, problems = load_form(RequestTransitionForm(), request.form)
    if values is None:
        return _request_page(signed, request_id, problems, request.form, 422, "transition")
    try:
        requests_service.transition(get_session(), get_keys(), get_policy(), request_id,
                                    values["to"], reason=values["reason"], actor=actor(signed))
    except errors.Invalid as exc:
        return _request_page(signed, request_id, exc.fields or {"_schema": [exc.message]},
                             request.form, 422, "transition")
    return redirect(url_for("console.request_page", request_id=request_id,
                            done=values["to"]), code=303)


@bp.post("/requests/<request_id>/extend")
@page("requests:write")
def request_extend(signed, request_id):
    """Extend the due date once, with the reason the person is told."""
    values, problems = load_form(RequestExtendForm(), request.form)
    if values is None:
        return _request_page(signed, request_id, problems, request.form, 422, "extend")
    try:
        requests_service.extend(get_session(), get_keys(), get_policy(), request_id,
                                reason=values["reason"], actor=actor(signed))
    except errors.Invalid as exc:
        return _request_page(signed, request_id, exc.fields or {"_schema": [exc.message]},
                             request.form, 422, "extend")
    return redirect(url_for("console.request_page", request_id=request_id, done="extended"),
                    code=303)


@bp.context_processor
def _request_counts():
    """The queue's counts for the console's home page (when the key may read requests)."""
    signed = g.get("console_session")
    if request.endpoint != "console.home" or signed is None \
            or not _may(signed, ("requests:read",)):
        return {}
    return {"request_counts": requests_service.queue_counts(get_session(), utcnow())}
