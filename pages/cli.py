"""Commands of the pages for people (added to the core's `dev` group by the app)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from consent.explain import LANGUAGES
from consentry.clock import utcnow
from consentry.fields import is_subject_id
from consentry.secretstore import get_keys
from pages.links import issue_link
from pages.urls import page_url


@click.command("preference-link")
@click.argument("subject_id")
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True,
              help="Where browsers reach this service.")
@click.option("--language", type=click.Choice(LANGUAGES), default=None,
              help="The page's language (default: the browser's).")
@with_appcontext
def preference_link(subject_id: str, base_url: str, language: str | None) -> None:
    """Print a link to SUBJECT_ID's preference page (as POST .../preference-link gives)."""
    if not is_subject_id(subject_id):
        raise click.BadParameter("1-128 characters of A-Z a-z 0-9 . _ : @ -",
                                 param_hint="SUBJECT_ID")
    link = issue_link(get_keys(), page="preferences", subject_id=subject_id, now=utcnow(),
                      seconds=current_app.config["PAGE_LINK_SECONDS"], issued_by="dev-cli",
                      language=language)
    with current_app.test_request_context(base_url=base_url):
        click.echo(page_url(link))
