"""The one error envelope: every 4xx and 5xx leaves the service in this shape."""

from __future__ import annotations

import logging

import marshmallow as ma
from flask import Flask, g, jsonify
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from consentry.metrics import route_label

log = logging.getLogger("consentry.errors")

# A stable machine-readable code for each status Flask or werkzeug may raise.
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class DomainError(Exception):
    """An error a service raises for the client: mapped once to the envelope."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 fields: dict | None = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.fields = fields
        self.headers = headers or {}


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Invalid(DomainError):
    """Valid JSON that breaks a domain rule (unknown purpose, too many choices...)."""

    status = 422
    code = "validation_error"


class ErrorDetailSchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "Machine-readable code"})
    message = ma.fields.String(required=True, metadata={"description": "Human-readable message"})
    fields = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "Per-field messages, keyed by dotted path (422 only)"},
    )
    request_id = ma.fields.String(metadata={"description": "The X-Request-Id of the request"})


class ErrorSchema(ma.Schema):
    """The error envelope: `{"error": {"code", "message", "fields"?}}`."""

    error = ma.fields.Nested(ErrorDetailSchema, required=True)


def flatten_messages(messages, prefix: str = "") -> dict[str, list[str]]:
    """Flatten marshmallow's nested messages into `{"choices.0.status": [...]}`."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict | list) and not _is_leaf_list(value):
                flat.update(flatten_messages(value, path))
            else:
                flat[path] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    elif isinstance(messages, list):
        flat[prefix or "_schema"] = [str(m) for m in messages]
    else:
        flat[prefix or "_schema"] = [str(messages)]
    return flat


def _is_leaf_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def envelope(status: int, message: str, code: str | None = None, fields: dict | None = None,
             headers: dict | None = None):
    """Build the error response."""
    body = {"code": code or STATUS_CODES.get(status, "error"), "message": message}
    if fields:
        body["fields"] = fields
    rid = g.get("request_id")
    if rid:
        body["request_id"] = rid
    response = jsonify({"error": body})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def handle_http_exception(error: HTTPException):
    """Map werkzeug/Flask/webargs HTTP errors to the envelope."""
    status = error.code or 500
    if status >= 500:
        return handle_unexpected(error)
    data = getattr(error, "data", None) or {}
    fields = None
    messages = data.get("messages") or data.get("errors")
    if messages:
        # webargs nests messages by location: {"json": {...}, "query": {...}}
        if isinstance(messages, dict) and set(messages) <= {"json", "query", "headers",
                                                           "form", "files", "view_args",
                                                           "cookies", "path", "querystring"}:
            merged: dict = {}
            for part in messages.values():
                merged.update(flatten_messages(part))
            fields = merged
        else:
            fields = flatten_messages(messages)
    message = data.get("message") or error.description or error.name
    if status == 400 and fields and any("Invalid JSON" in m for ms in fields.values() for m in ms):
        return envelope(400, "The request body is not valid JSON.", "malformed_json")
    if status == 422:
        message = data.get("message") or "The request failed validation."
    return envelope(status, message, fields=fields, headers=data.get("headers"))


def handle_domain_error(error: DomainError):
    return envelope(error.status, error.message, error.code, error.fields, error.headers)


def handle_validation_error(error: ma.ValidationError):
    return envelope(422, "The request failed validation.", fields=flatten_messages(error.messages))


def handle_unexpected(error: Exception):
    """Log the traceback with the request id and the route template (never the path,
    which names the subject); answer with no internals."""
    original = getattr(error, "original_exception", None) or error
    if isinstance(original, OperationalError | DBAPIError) and database_unavailable(original):
        log.error("database unavailable request_id=%s route=%s", g.get("request_id"),
                  route_label(), exc_info=original)
        return envelope(503, "The database is unavailable; try again.", "unavailable",
                        headers={"Retry-After": "1"})
    log.error("unhandled error request_id=%s route=%s", g.get("request_id"), route_label(),
              exc_info=original)
    return envelope(500, "Internal error. Quote the request id when you report it.")


# SQLSTATEs that say the database cannot take the transaction now, so the client should
# try again (503): a connection exception (class 08), an operator's or a crash's shutdown
# or a server starting up (57P01-57P03), a read-only transaction on a primary that was
# demoted (25006), too many connections (53300), and a serialization failure or deadlock
# left after the retries (40001, 40P01).
UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "25006", "53300", "40001", "40P01")


def database_unavailable(exc: Exception) -> bool:
    """Whether a database error means "unavailable, try again" rather than a bug: by its
    SQLSTATE when the server sent one, else (the socket died, SQLite's lock) by the
    driver's words."""
    original = getattr(exc, "orig", None) or exc
    state = getattr(original, "sqlstate", None)
    if state:
        return state.startswith(UNAVAILABLE_SQLSTATES)
    text = str(original).lower()
    return any(s in text for s in ("database is locked", "could not connect", "connection",
                                   "server closed", "deadlock", "could not serialize",
                                   "read-only transaction", "the database system is"))


def init_app(app: Flask) -> None:
    """Register the envelope for every error the app can raise."""
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(ma.ValidationError, handle_validation_error)
    app.register_error_handler(InternalServerError, handle_unexpected)
    app.register_error_handler(Exception, handle_unexpected)
