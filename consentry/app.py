"""The application factory: the one place that wires the domains together."""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

from flask import Flask, g, request
from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError

from audit.cli import audit_cli
from audit.export import SUBJECT_FILES
from audit.jobs import audit_jobs, inline_sequencer
from audit.policy_log import record_policy_loaded
from audit.stores import audit_stores
from audit.views import blp as audit_blp
from consent.cli import consents_cli
from consent.decision_views import blp as decisions_blp
from consent.decisions import RECIPE_LOOKUP
from consent.imports import ERASED_SUBJECTS
from consent.notice_views import blp as notices_blp
from consent.signals_views import FAST_ROUTES as SIGNALS_FAST_ROUTES
from consent.signals_views import blp as signals_blp
from consent.stores import consent_stores
from consent.views import FAST_ROUTES as CONSENT_FAST_ROUTES
from consent.views import blp as consent_blp
from consentry import auth, db, errors, fastpath, html, inbound, metrics, policy, secretstore
from consentry.api import api
from consentry.cli import dev_cli, register_cli
from consentry.config import load_config
from consentry.fields import SubjectIdConverter, subject_id_openapi
from consentry.idempotency import STORE as IDEMPOTENCY_STORE
from consentry.ops import blp as ops_blp
from consentry.scheduler import register_job
from consentry.stores import register_store
from console import (
    request_pages,  # noqa: F401 (adds the requests pages to the console)
    webhook_pages,  # noqa: F401 (adds the webhooks page to the console)
)
from console.cli import staff_cli
from console.views import bp as console_bp
from governance.access import subject_files
from governance.cli import reports_cli
from governance.recipes import recipe_use
from governance.request_views import blp as requests_blp
from governance.stores import governance_stores
from governance.views import blp as governance_blp
from pages.cli import preference_link
from pages.link_views import blp as page_links_blp
from pages.views import bp as pages_bp
from retention.cli import retention_cli
from retention.jobs import retention_jobs
from retention.service import erased_subjects
from retention.stores import retention_stores
from retention.views import blp as retention_blp
from webhooks.delivery import webhook_jobs
from webhooks.stores import webhook_stores
from webhooks.views import blp as webhooks_blp

API_SPEC_OPTIONS = {
    "components": {"securitySchemes": {
        "apiKey": {"type": "http", "scheme": "bearer",
                   "description": "A Consentry API key: `Authorization: Bearer csk_...`"},
    }},
    "info": {"description": "Consent ledger, signal gate, decisions, retention and audit. "
                            "Errors always use the envelope "
                            "`{\"error\": {\"code\", \"message\", \"fields\"?}}`."},
}


class Consentry(Flask):
    """Flask, with each request's view run as one retryable transaction (`db.run_request`)."""

    def dispatch_request(self):
        return db.run_request(self, super().dispatch_request)


def create_app(config: dict | None = None) -> Flask:
    """Build the app; `config` overrides what the environment says (tests use it)."""
    app = Consentry("consentry")
    app.config.update(load_config(config))
    app.config.setdefault("API_SPEC_OPTIONS", API_SPEC_OPTIONS)
    _configure_logging(app)
    app.url_map.converters["subject"] = SubjectIdConverter

    policy.init_app(app)
    secretstore.init_app(app)
    _request_hooks(app)
    db.init_app(app)  # after the request hooks: its commit runs before they log the status
    auth.init_app(app)
    metrics.init_app(app)
    html.init_app(app)
    inbound.init_app(app)  # last of the hooks: the ones above always run

    api.init_app(app)
    api.register_converter(SubjectIdConverter, subject_id_openapi)
    errors.init_app(app)  # after flask-smorest's, so the envelope wins
    for blueprint in (ops_blp, consent_blp, signals_blp, decisions_blp, retention_blp,
                      audit_blp, page_links_blp, governance_blp, notices_blp, requests_blp,
                      webhooks_blp):
        api.register_blueprint(blueprint)
    app.register_blueprint(pages_bp)  # HTML for people: not part of the OpenAPI document
    inbound.accept_forms(app, pages_bp.name)  # its forms carry a CSRF token
    html.embeddable(app, pages_bp.name)  # a company may frame them in its own site
    app.register_blueprint(console_bp)  # HTML, outside the OpenAPI document
    html.own_scripts(app, console_bp.name)  # its job pages look for news while JS is on
    inbound.accept_forms(app, console_bp.name)  # its forms carry CSRF tokens
    _wire_domains(app)
    fastpath.install(app, SIGNALS_FAST_ROUTES + CONSENT_FAST_ROUTES)  # in front of all above
    register_cli(app)
    if app.config.get("RECORD_POLICY_ON_START", True):
        record_policy(app)
    return app


def _wire_domains(app: Flask) -> None:
    """Each domain's stores (what retention may purge or erase), jobs and commands."""
    config, keys = app.config, secretstore.get_keys(app)
    # Bundles hold decrypted personal fields: only the service's user may read them.
    Path(config["AUDIT_EXPORT_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    for store in [*consent_stores(config, policy.get_policy(app)), IDEMPOTENCY_STORE,
                  *audit_stores(config, keys), *retention_stores(),
                  *governance_stores(), *webhook_stores()]:
        register_store(app, store)
    for job in [*retention_jobs(config), *audit_jobs(config), *webhook_jobs(config)]:
        register_job(app, job)
    if config["AUDIT_SEQUENCE_INLINE"]:
        db.get_db(app).after_commit.append(inline_sequencer(app))
    app.cli.add_command(retention_cli)
    app.cli.add_command(consents_cli)
    app.cli.add_command(audit_cli)
    dev_cli.add_command(preference_link)
    app.cli.add_command(reports_cli)
    app.cli.add_command(staff_cli)
    # decisions judge a cited recipe; consent never imports governance, so wire it here
    app.extensions[RECIPE_LOOKUP] = recipe_use
    # a subject access export gathers consent and retention files; audit imports neither
    app.extensions[SUBJECT_FILES] = functools.partial(subject_files, recipe_lookup=recipe_use)
    # an import skips subjects retention erased; consent never imports retention
    app.extensions[ERASED_SUBJECTS] = erased_subjects


def record_policy(app: Flask) -> bool:
    """Audit a change of policy (by digest); skipped (with a note) before migrations ran.

    A process that starts while no database server takes writes (a failover) starts all
    the same, so that it can answer 503 and /readyz can say so: False, and the scheduler
    records the policy once the database answers (`consentry.cli.scheduler_command`)."""
    database = db.get_db(app)
    try:
        if not inspect(database.engine).has_table("policy_state"):
            logging.getLogger("consentry").info(
                "policy version not recorded: database not migrated yet "
                "(`flask --app wsgi db upgrade` records it)")
            return True
        with database.transaction() as session:
            record_policy_loaded(session, secretstore.get_keys(app), policy.get_policy(app))
    except DBAPIError as exc:
        if not errors.database_unavailable(exc):
            raise
        database.engine.dispose()
        logging.getLogger("consentry").warning(
            "policy version not recorded yet: the database is unavailable (%s)",
            str(exc.orig).splitlines()[0] if exc.orig else exc)
        return False
    return True


def _configure_logging(app: Flask) -> None:
    level = getattr(logging, str(app.config["LOG_LEVEL"]).upper(), logging.INFO)
    root = logging.getLogger("consentry")
    root.setLevel(level)
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
        root.propagate = False


def _request_hooks(app: Flask) -> None:
    @app.before_request
    def _start():
        g.started = time.perf_counter()
        g.request_id = metrics.request_id_for(request.headers.get("X-Request-Id", ""))

    @app.after_request
    def _finish(response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        principal = g.get("principal")
        metrics.record_request(app, request.method, metrics.route_label(),
                               response.status_code,
                               time.perf_counter() - g.get("started", time.perf_counter()),
                               principal.name if principal else None, g.get("request_id"))
        return response
