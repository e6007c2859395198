"""What the OpenAPI document says of every route alike (consentry.api.Api uses it).

flask-smorest documents what it parses and dumps. The rest of the contract is stated
here once (API.md "Conventions"):

- the headers: `X-Request-Id` on every answer, `Retry-After` on `429` and `503`,
  `WWW-Authenticate` on `401`; the request headers a view reads itself (`Sec-GPC`,
  `Idempotency-Key`, `Accept-Language`), which views name with `reads_header`;
- the errors a route's shape implies (`ContractPlugin`): a JSON body can be malformed
  (`400`), too large (`413`) or not JSON (`415`); an id in the path can be invalid
  (`422`: a subject id that breaks the rule, a NUL anywhere); an id other than the
  subject's names a resource that may not exist (`404`), except where a `PUT` creates it;
- answers may grow, requests may not: a schema that only answers allows additional
  properties (API.md: a response may carry more fields than listed); a request body's
  schema stays closed, as marshmallow reads it (an unknown field is a `422`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from http import HTTPStatus

from apispec import APISpec, BasePlugin

# Response headers: components, referred to by name.
RESPONSE_HEADERS = {
    "X-Request-Id": {
        "description": "The request's id: the caller's own `X-Request-Id` when it sent one of "
                       "1-128 printable characters, else one the service made. Every answer "
                       "carries it, and so does every error envelope (`request_id`).",
        "schema": {"type": "string"}},
    "Retry-After": {
        "description": "Seconds to wait before asking again.",
        "schema": {"type": "integer", "minimum": 1}},
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the "
                       "same `Idempotency-Key` and body: nothing was written again.",
        "schema": {"type": "string", "enum": ["true"]}},
    "WWW-Authenticate": {
        "description": "`Bearer`: send an API key as `Authorization: Bearer <key>`.",
        "schema": {"type": "string"}},
}

# Request headers that views read themselves (flask-smorest documents only what it parses);
# each operation that reads one lists it in full (`reads_header`).
REQUEST_HEADERS = {
    "Idempotency-Key": {
        "description": "Makes a write safe to retry: a retry with the same key and body gets "
                       "the first answer (with `Idempotent-Replayed: true`) and writes "
                       "nothing; the same key with another request is a `409`. 1-200 "
                       "printable characters; kept at least 24 hours.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 200}},
    "Sec-GPC": {
        "description": "Global Privacy Control, as the person's browser sent it: `1` records "
                       "a sale/sharing opt-out with source `gpc`, and it wins over a stored "
                       "setting that would allow sale or sharing.",
        "schema": {"type": "string", "enum": ["1"]}},
    "Accept-Language": {
        "description": "The language of labels, headlines and explanations: English (`en`) "
                       "or German (`de`), the best match of this header (default English).",
        "schema": {"type": "string", "example": "de-DE,de;q=0.9,en;q=0.8"}},
}

# What the errors the service gives mean (`error.code` of the envelope in brackets), and
# the headers they carry besides the request id.
ERRORS = {
    400: "The body is not valid JSON [`malformed_json`], or the request is malformed "
         "[`bad_request`].",
    401: "No API key, or an unknown or revoked one [`unauthorized`].",
    403: "The API key lacks the scope this operation needs [`forbidden`].",
    404: "Nothing has this id [`not_found`].",
    409: "A conflict [`conflict`]: e.g. an `Idempotency-Key` used with another request "
         "[`idempotency_key_reused`] or still in progress [`idempotency_in_progress`].",
    413: "The body is larger than the service takes (`CONSENTRY_MAX_BODY_BYTES`) "
         "[`payload_too_large`].",
    415: "A body that is not declared `Content-Type: application/json` "
         "[`unsupported_media_type`].",
    422: "The body, query or path fails validation [`validation_error`]; `fields` names "
         "each problem by its dotted path.",
    429: "Too many requests for this API key [`rate_limited`]: wait `Retry-After` seconds.",
    503: "The database is unavailable or too busy [`unavailable`]: retry after `Retry-After` "
         "seconds.",
}
ERROR_HEADERS = {401: ["WWW-Authenticate"], 429: ["Retry-After"], 503: ["Retry-After"]}

SCHEMA_REF = "#/components/schemas/"
_PATH_PARAMETER = re.compile(r"{([^}]+)}")


def reads_header(name: str):
    """Document that the view reads the request header `name` (one of REQUEST_HEADERS)."""
    if name not in REQUEST_HEADERS:
        raise ValueError(f"undocumented request header {name!r}")

    parameter = {"name": name, "in": "header", "required": False, **REQUEST_HEADERS[name]}

    def decorator(view):
        apidoc = copy.deepcopy(getattr(view, "_apidoc", {}))
        apidoc.setdefault("arguments", {}).setdefault("parameters", []).append(
            copy.deepcopy(parameter))
        view._apidoc = apidoc
        return view

    return decorator


def error_response(status: int) -> str:
    """The name of the error response component for `status` (the envelope)."""
    return HTTPStatus(status).name


def _refs(node) -> Iterator[str]:
    """Names of the schemas `node` refers to directly."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMA_REF):
            yield ref[len(SCHEMA_REF):]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _add_response(responses: dict, status: int, response) -> None:
    if status not in responses and str(status) not in responses:
        responses[status] = response


class ContractPlugin(BasePlugin):
    """apispec plugin (after marshmallow's): headers and errors by a route's shape, and
    open answers (see the module)."""

    def init_spec(self, spec) -> None:
        self.spec = spec
        self.read: set[str] = set()      # request bodies' schemas, and what they nest
        self.answered: set[str] = set()  # answers' schemas, and what they nest
        self.declared: dict[str, object] = {}  # additionalProperties as marshmallow gave it

    def response_helper(self, response: dict, **kwargs) -> None:
        """Component responses: the error envelope answers."""
        self.answered |= self._closure(response)
        self._settle()

    def operation_helper(self, path: str | None = None, operations: dict | None = None,
                         **kwargs) -> None:
        names = set(_PATH_PARAMETER.findall(path or ""))
        for method, operation in (operations or {}).items():
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                self.read |= self._closure(operation["requestBody"])
                for status in (400, 413, 415):
                    _add_response(responses, status, error_response(status))
            if names:  # an invalid subject id, a NUL in any id (consentry.inbound)
                _add_response(responses, 422, error_response(422))
            if names - {"subject_id"} and method != "put":  # a PUT creates what it names
                _add_response(responses, 404, error_response(404))
            for response in responses.values():
                if isinstance(response, dict) and "$ref" not in response:
                    response.setdefault("headers", {}).setdefault("X-Request-Id",
                                                                  "X-Request-Id")
            self.answered |= self._closure(responses)
        self._settle()

    def _closure(self, node) -> set[str]:
        """Every schema `node` refers to, directly or through other schemas."""
        schemas = self.spec.components.schemas
        seen: set[str] = set()
        todo = list(_refs(node))
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(_refs(schemas.get(name, {})))
        return seen

    def _settle(self) -> None:
        """Open the schemas that only answer; keep (or give back) the read ones' rule."""
        schemas = self.spec.components.schemas
        for name in self.answered | self.read:
            schema = schemas.get(name)
            if schema is None or schema.get("type") != "object":
                continue
            declared = self.declared.setdefault(name, schema.get("additionalProperties"))
            if name not in self.read:
                schema["additionalProperties"] = True
            elif declared is None:
                schema.pop("additionalProperties", None)
            else:
                schema["additionalProperties"] = declared


def register_headers(spec: APISpec) -> None:
    """The response header components (lazy: only those a route uses appear in the
    document). Before any response that refers to them."""
    for name, header in RESPONSE_HEADERS.items():
        spec.components.header(name, header, lazy=True)


def register_errors(spec: APISpec, error_schema, content_type: str) -> None:
    """The error responses by status name (flask-smorest's names, which they replace):
    each in the envelope, saying what it means, with the headers it carries (lazy)."""
    errors = {status.name: (ERRORS.get(status, status.phrase), ERROR_HEADERS.get(status, []))
              for status in HTTPStatus if status >= 400}
    errors["DEFAULT_ERROR"] = ("Any other error, in the envelope.", [])
    for name, (description, headers) in errors.items():
        spec.components.response(name, {
            "description": description,
            "content": {content_type: {"schema": error_schema}},
            "headers": {h: h for h in ["X-Request-Id", *headers]}}, lazy=True)
