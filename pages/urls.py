"""Where a link opens: its absolute URL."""

from __future__ import annotations

from flask import current_app, url_for

from pages.links import Link

ENDPOINTS = {"preferences": "pages.preferences", "explanation": "pages.explanation"}


def page_url(link: Link) -> str:
    """The absolute URL of `link`: on `CONSENTRY_PUBLIC_URL` when it is set, else on the
    scheme and host of the current request (the one that asked for the link; a Host not
    on CONSENTRY_ALLOWED_HOSTS never gets this far)."""
    if current_app.config.get("PUBLIC_URL_GIVEN"):
        return current_app.config["PUBLIC_URL"] + url_for(ENDPOINTS[link.page],
                                                          token=link.token)
    return url_for(ENDPOINTS[link.page], token=link.token, _external=True)
