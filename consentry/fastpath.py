"""Hot GET routes answered without Flask's request machinery, when the request is plain.

The signal gate's single lookup is what engines call on every page view. Through Flask,
flask-smorest and webargs, its answer costs about three times the lookup itself (the
request context, a dozen hooks, argument parsing through marshmallow); issue 15 asks for
half a bare Flask endpoint. A route may therefore register a fast path here, next to its
Flask view, that builds its answer with the view's own functions.

The fast path takes only the plain case: a GET with no body and no `SCRIPT_NAME`, a
path of the route's shape whose subject id passes `is_subject_id` as ASCII, a query of
`name=value` pairs the route knows, each once, in plain characters (no escapes, no `+`,
no NUL), a known key with the route's scope that is not rate limited, and arguments the
route's check accepts. Anything else, every error and every exception, goes to the
Flask route, which stays the one home of the rules and of every error answer. Whatever
the fast path answers carries what the Flask hooks would add (`X-Request-Id`) and is
counted, timed and logged as they do (`metrics.record_request`). `CONSENTRY_FAST_PATHS=false`
turns it off; tests/consent/test_gate_fast_path.py holds both ways to the same answers.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from flask import Flask
from werkzeug.exceptions import SecurityError
from werkzeug.wsgi import get_host

from consentry import auth, metrics
from consentry.db import Database, get_db
from consentry.errors import DomainError
from consentry.fields import is_subject_id

log = logging.getLogger("consentry.fastpath")

# One `name=value` pair that needs no decoding: what werkzeug and this module read alike.
_PLAIN_PAIR = re.compile(r"([a-z_]{1,32})=([A-Za-z0-9_.:-]{1,128})")


@dataclass(frozen=True)
class FastRoute:
    """A GET route's fast path: `rule` is the Flask route template (the metrics label),
    whose one `<subject:...>` part the fast path reads as the subject id; `scopes` those the view
    accepts; `fields` the query names it takes (absent ones are None), `required` those
    it must have; `check(args)` raises DomainError for arguments the view refuses;
    `read(database, subject_id)` reads what the answer needs (one statement, outside
    any transaction: `Database.fetch_all`); `answer(read, subject_id, args)` is the
    answer's body (sent as JSON, as `fields.json_response` does, with the headers
    `response_headers(body)` adds); `takes(read)` says whether the fast path answers what
    was read, else the view does (asked before the rate limit takes a token); `headers`
    names request headers the answer reads, put in `args` under their names (None when
    absent)."""

    rule: str
    scopes: tuple[str, ...]
    fields: frozenset[str]
    required: frozenset[str]
    check: Callable[[dict], None]
    read: Callable[[Database, str], Any]
    answer: Callable[[Any, str, dict], dict]
    takes: Callable[[Any], bool] = lambda _read: True
    headers: tuple[str, ...] = ()
    response_headers: Callable[[dict], list[tuple[str, str]]] = lambda _body: []

    @functools.cached_property
    def pattern(self) -> re.Pattern:
        """PATH_INFO of the rule, the subject id captured (a segment, as the converter)."""
        before, _, after = self.rule.partition("<subject:")
        return re.compile(re.escape(before) + "([^/]+)" + re.escape(after.partition(">")[2]))


def plain_query(query: str, fields: frozenset[str], required: frozenset[str]) -> dict | None:
    """The arguments of a plain query string, or None when it is anything else."""
    args: dict[str, str | None] = dict.fromkeys(fields)
    seen = set()
    for pair in query.split("&") if query else ():
        match = _PLAIN_PAIR.fullmatch(pair)
        if match is None:
            return None
        name, value = match.groups()
        if name not in fields or name in seen:
            return None
        seen.add(name)
        args[name] = value
    return args if required <= seen else None


class FastPaths:
    """WSGI middleware in front of the Flask app (`install`)."""

    def __init__(self, app: Flask, routes: list[FastRoute]):
        self.app = app
        self.wsgi_app = app.wsgi_app
        self.routes = routes
        self.answered = 0  # requests the fast path answered (the tests read it)

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET" and not environ.get("SCRIPT_NAME"):
            path = environ.get("PATH_INFO", "")
            for route in self.routes:
                match = route.pattern.fullmatch(path)
                if match is not None:
                    answer = self._answer(route, match.group(1), environ)
                    if answer is not None:
                        self.answered += 1
                        data, headers = answer
                        # straight to the server: a werkzeug Response (its header
                        # object, its WSGI adaptation) cost a sixth of the whole answer
                        start_response("200 OK", headers)
                        return [data]
                    break
        return self.wsgi_app(environ, start_response)

    def _answer(self, route: FastRoute, subject_id: str, environ):
        """The fast answer, or None to let the Flask route answer."""
        started = time.perf_counter()
        if environ.get("CONTENT_LENGTH") not in (None, "", "0") \
                or "HTTP_TRANSFER_ENCODING" in environ:
            return None  # a GET with a body: the view refuses what it is not (415, 400)
        if not subject_id.isascii() or not is_subject_id(subject_id):
            return None
        trusted = self.app.config.get("TRUSTED_HOSTS")
        if trusted:  # Flask refuses a Host not on the list (400): let it
            try:
                get_host(environ, trusted)
            except SecurityError:
                return None
        args = plain_query(environ.get("QUERY_STRING", ""), route.fields, route.required)
        key = auth.bearer_key(environ.get("HTTP_AUTHORIZATION", ""))
        if args is None or key is None:
            return None
        for name in route.headers:
            args[name] = environ.get("HTTP_" + name.upper().replace("-", "_"))
        app = self.app
        with app.app_context():
            try:
                principal = auth.authenticate(key)
                if principal is None or not any(principal.has(s) for s in route.scopes):
                    return None
                route.check(args)
                read = route.read(get_db(app), subject_id)
                if not route.takes(read):
                    return None
                # Last, as the view's own check does first: a token taken here is the one
                # the Flask route would have taken.
                if app.extensions["consentry.ratelimit"].retry_after(principal.name) > 0:
                    return None
                body = route.answer(read, subject_id, args)
            except DomainError:
                return None
            except Exception:  # the Flask route answers it (a 503, a 500) and logs it
                log.debug("fast path fell back", exc_info=True)
                return None
            data = orjson.dumps(body)
            headers = [("Content-Type", "application/json"),
                       ("Content-Length", str(len(data))), *route.response_headers(body)]
        request_id = metrics.request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        headers.append(("X-Request-Id", request_id))
        metrics.record_request(app, "GET", route.rule, 200, time.perf_counter() - started,
                               principal.name, request_id)
        return data, headers


def install(app: Flask, routes: list[FastRoute]) -> None:
    """Put the routes' fast paths in front of `app` (unless CONSENTRY_FAST_PATHS is off)."""
    if app.config["FAST_PATHS"] and routes:
        app.wsgi_app = FastPaths(app, routes)
