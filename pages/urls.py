"""Where a link opens: its absolute URL."""

from __future__ import annotations

from flask import url_for

from pages.links import Link

ENDPOINTS = {"preferences": "pages.preferences", "explanation": "pages.explanation"}


def page_url(link: Link) -> str:
    """The absolute URL of `link`, on the scheme and host of the current request (the one
    that asked for the link), so browsers reach the service by the name the backend used."""
    return url_for(ENDPOINTS[link.page], token=link.token, _external=True)
