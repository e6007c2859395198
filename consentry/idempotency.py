"""`Idempotency-Key` for writes: a retry with the same key and body gets the first answer.

The record is written in the same transaction as the write it guards, so either both
exist or neither does. Same key with another body → 409. Records are kept at least
24 hours (retention purges them after that through the store registry).
"""

from __future__ import annotations

import copy
import functools
import hashlib
from datetime import timedelta

from flask import Response, current_app, g, jsonify, request
from sqlalchemy import Text, cast, delete, select
from sqlalchemy.exc import IntegrityError

from consentry.clock import utcnow
from consentry.db import get_session
from consentry.errors import Conflict, Invalid
from consentry.models import IdempotencyRecord
from consentry.openapi import error_response, reads_header
from consentry.stores import BatchResult, Held, Store, erase_matching, held_clause, purge_expired

KEEP = timedelta(hours=24)
# Request headers that change what a write means, so they are part of its fingerprint.
MEANINGFUL_HEADERS = ("Sec-GPC",)


def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b"\0" + request.path.encode() + b"\0")
    digest.update(request.query_string + b"\0")
    for header in MEANINGFUL_HEADERS:
        digest.update(request.headers.get(header, "").encode() + b"\0")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def idempotent(view):
    """Honour `Idempotency-Key` on a write view (place it right below `scoped`)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        if not 1 <= len(key) <= 200 or not key.isprintable():
            raise Invalid("Idempotency-Key must be 1-200 printable characters.",
                          fields={"Idempotency-Key": ["Invalid value."]})
        session = get_session()
        actor = g.principal.name
        fingerprint = _fingerprint()
        record = session.scalar(select(IdempotencyRecord).where(
            IdempotencyRecord.actor == actor, IdempotencyRecord.key == key))
        if record is not None:
            return _replay(record, fingerprint)
        try:
            with session.begin_nested():
                record = IdempotencyRecord(actor=actor, key=key, fingerprint=fingerprint,
                                           subject_id=kwargs.get("subject_id"),
                                           created_at=utcnow(), status=0, body={})
                session.add(record)
        except IntegrityError as exc:
            raise Conflict("A request with this Idempotency-Key is in progress; retry.",
                           code="idempotency_in_progress") from exc
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code < 300 and response.is_json:
            record.status = response.status_code
            record.body = response.get_json()
        else:
            session.delete(record)
        return response

    return reads_header("Idempotency-Key")(_document(wrapper))


def _document(wrapper):
    """The OpenAPI of an idempotent write: its answers may be replays, and a key reused
    with another request (or still in progress) is a 409."""
    apidoc = copy.deepcopy(getattr(wrapper, "_apidoc", {}))
    responses = apidoc.setdefault("response", {}).setdefault("responses", {})
    for status in apidoc.get("success_status_codes", ()):
        for response in responses.get(status, ()):
            if isinstance(response, dict):
                response.setdefault("headers", {})["Idempotent-Replayed"] = "Idempotent-Replayed"
    responses.setdefault(409, []).append(error_response(409))
    wrapper._apidoc = apidoc
    return wrapper


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise Conflict("This Idempotency-Key was used with a different request.",
                       code="idempotency_key_reused")
    if record.status == 0:
        raise Conflict("A request with this Idempotency-Key is in progress; retry.",
                       code="idempotency_in_progress")
    response = jsonify(record.body)
    response.status_code = record.status
    response.headers["Idempotent-Replayed"] = "true"
    return response


def purge_records(session, cutoffs, held: Held, limit: int, dry_run: bool) -> BatchResult:
    """Retention: drop records older than 24 hours (their own window, not a policy class)."""
    return purge_expired(
        session, key=IdempotencyRecord.id, expired=IdempotencyRecord.created_at < utcnow() - KEEP,
        held=held_clause(IdempotencyRecord.subject_id, held.subject_ids),
        order_by=IdempotencyRecord.id, limit=limit, dry_run=dry_run,
        delete=lambda ids: _delete(session, ids))


def erase_records(session, subject_id: str, held: Held) -> BatchResult:
    """Erasure: drop the records of the subject's writes and every record whose stored
    body names the subject (a decision, a hold: their subject is in the body, not the
    path). Subject ids are JSON strings as they are (consentry.fields), so the body's
    text holds `"<id>"` exactly when a value (or key) in it is the id."""
    named = cast(IdempotencyRecord.body, Text).like(
        '%"' + subject_id.replace("_", r"\_") + '"%', escape="\\")
    return erase_matching(session, subject_id, held, key=IdempotencyRecord.id,
                          where=(IdempotencyRecord.subject_id == subject_id) | named,
                          delete=lambda ids: _delete(session, ids))


def _delete(session, ids: list[int]) -> None:
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id.in_(ids)))


STORE = Store(name="idempotency_records", purge=purge_records, erase=erase_records)
