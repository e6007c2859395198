"""What every HTML entry (the people's pages, the console) shares: the layout and
stylesheet (consentry/templates, consentry/static), strict security headers, and CSRF
tokens.

Nothing is loaded from another origin: the Content-Security-Policy allows only this
origin's stylesheet, and forms post only to this origin (`/docs`, Swagger UI served from
this origin, gets its own policy: this origin's scripts and inline start-up code).
`frame-ancestors` lists the policy's `page_origins` for the blueprints named with
`embeddable` (the people's pages), so a company can embed them in its own site; every
other page (the console) may be framed by no one. `Referrer-Policy: no-referrer` keeps a
link's token out of other sites' logs.
"""

from __future__ import annotations

import hmac

from flask import Flask, Response, request

from consentry.policy import get_policy
from consentry.secretstore import SecretStore

CSRF_FIELD = "csrf_token"


def content_security_policy(frame_ancestors: tuple[str, ...], own_scripts: bool = False) -> str:
    """The CSP of every HTML answer; `own_scripts` lets this origin's script files run (no
    inline script, nothing from another origin), and lets them fetch from this origin."""
    ancestors = " ".join(frame_ancestors) if frame_ancestors else "'none'"
    scripts = "script-src 'self'; connect-src 'self'; " if own_scripts else ""
    return ("default-src 'none'; style-src 'self'; img-src 'self' data:; "
            f"{scripts}form-action 'self'; base-uri 'none'; "
            f"frame-ancestors {ancestors}")


# /docs (Swagger UI) needs its inline start-up script and styles, but nothing from another
# origin either: the browser refuses anything else, e.g. the online validator's badge.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def csrf_token(keys: SecretStore, bound_to: str) -> str:
    """The CSRF token of a form, bound to the credential the page was opened with (a
    link's token, a console session)."""
    return keys.keyed_hash("csrf", bound_to)


def csrf_valid(keys: SecretStore, bound_to: str, presented: str | None) -> bool:
    """Whether a posted form carries the CSRF token of `bound_to`."""
    return bool(presented) and hmac.compare_digest(csrf_token(keys, bound_to), presented)


EMBEDDABLE = "consentry.embeddable_blueprints"
SCRIPTED = "consentry.scripted_blueprints"


def embeddable(app: Flask, blueprint: str) -> None:
    """Let the policy's `page_origins` frame the pages of `blueprint`."""
    app.extensions.setdefault(EMBEDDABLE, set()).add(blueprint)


def own_scripts(app: Flask, blueprint: str) -> None:
    """Let the pages of `blueprint` run this origin's script files (progressive
    enhancement only: every page works without them)."""
    app.extensions.setdefault(SCRIPTED, set()).add(blueprint)


def init_app(app: Flask) -> None:
    """Give every HTML answer the security headers."""

    @app.after_request
    def _secure_html(response: Response) -> Response:
        if response.mimetype == "text/html" and request.path.startswith("/docs"):
            response.headers["Content-Security-Policy"] = DOCS_CSP
        elif response.mimetype == "text/html":
            framed_by = (get_policy(app).page_origins
                         if request.blueprint in app.extensions.get(EMBEDDABLE, ()) else ())
            scripted = request.blueprint in app.extensions.get(SCRIPTED, ())
            response.headers["Content-Security-Policy"] = content_security_policy(
                framed_by, own_scripts=scripted)
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers.setdefault("Cache-Control", "no-store")
        return response
