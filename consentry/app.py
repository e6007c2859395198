"""The application factory."""

from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, g, request

from consentry import auth, db, errors, metrics
from consentry.api import api
from consentry.config import load_config
from consentry.secretstore import SecretStore

request_log = logging.getLogger("consentry.request")


def create_app(config: dict | None = None) -> Flask:
    """Build the app; `config` overrides what the environment says (tests use it)."""
    from consent.policy import load_policy

    app = Flask("consentry")
    app.config.update(load_config(config))
    _configure_logging(app)

    policy = load_policy(app.config["POLICY_FILE"])
    app.extensions["consentry.policy"] = policy
    app.config.setdefault("GPC_LAST_UPDATE", "2026-11-01")

    store = SecretStore(app.config["SECRETS_DIR"])
    store.ensure()
    app.extensions["consentry.secrets"] = store

    db.init_app(app)
    auth.init_app(app)
    metrics.init_app(app)
    _request_hooks(app)

    app.config.setdefault("API_SPEC_OPTIONS", {
        "components": {"securitySchemes": {
            "apiKey": {"type": "http", "scheme": "bearer",
                       "description": "A Consentry API key: `Authorization: Bearer csk_...`"},
        }},
        "info": {"description": "Consent ledger, signal gate, decisions, retention and audit. "
                                "Errors always use the envelope "
                                "`{\"error\": {\"code\", \"message\", \"fields\"?}}`."},
    })
    api.init_app(app)
    errors.init_app(app)  # after flask-smorest's, so the envelope wins
    for blueprint in _blueprints():
        api.register_blueprint(blueprint)
    for init_domain in _domain_initialisers():
        init_domain(app)

    from consentry.cli import register_cli

    register_cli(app)
    if app.config.get("RECORD_POLICY_ON_START", True):
        record_policy(app)
    return app


def record_policy(app: Flask) -> None:
    """Audit a change of policy version; skipped (with a warning) before migrations ran."""
    from sqlalchemy import inspect

    from consent.policy_state import record_policy_loaded

    database = db.get_db(app)
    with app.app_context():
        if not inspect(database.engine).has_table("policy_state"):
            logging.getLogger("consentry").info(
                "policy version not recorded: database not migrated yet "
                "(`flask --app wsgi db upgrade` records it)")
            return
        with database.transaction() as session:
            record_policy_loaded(session, app.extensions["consentry.policy"])


def _blueprints():
    from audit.views import blp as audit_blp
    from consent.decision_views import blp as decisions_blp
    from consent.signals_views import blp as signals_blp
    from consent.views import blp as consent_blp
    from consentry.ops import blp as ops_blp
    from retention.views import blp as retention_blp

    return [ops_blp, consent_blp, signals_blp, decisions_blp, retention_blp, audit_blp]


def _domain_initialisers():
    """Each domain's `init_app`: registers its stores, jobs and CLI groups."""
    from audit.web import init_app as init_audit
    from consent.web import init_app as init_consent
    from retention.web import init_app as init_retention

    return [init_consent, init_retention, init_audit]


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
        incoming = request.headers.get("X-Request-Id", "")
        valid = 0 < len(incoming) <= 128 and incoming.isprintable()
        g.request_id = incoming if valid else uuid.uuid4().hex
        g.write_token = db.write_intent.set(request.method not in ("GET", "HEAD", "OPTIONS"))

    @app.teardown_request
    def _reset_write_intent(_exc):
        token = g.pop("write_token", None)
        if token is not None:
            db.write_intent.reset(token)

    @app.after_request
    def _finish(response):
        session = g.get("db_session")
        if session is not None and response.status_code < 400 and session.in_transaction():
            try:
                session.commit()
            except Exception as exc:  # the write did not land: tell the client, not 200
                session.rollback()
                response = errors.handle_unexpected(exc)
        response.headers["X-Request-Id"] = g.get("request_id", "")
        route = request.url_rule.rule if request.url_rule else "(unmatched)"
        duration = time.perf_counter() - g.get("started", time.perf_counter())
        m = app.extensions["consentry.metrics"]
        m.requests.labels(request.method, route, str(response.status_code)).inc()
        m.latency.labels(route).observe(duration)
        principal = g.get("principal")
        request_log.info("request_id=%s key=%s method=%s route=%s status=%s duration_ms=%.1f",
                         g.get("request_id"), principal.name if principal else "-",
                         request.method, route, response.status_code, duration * 1000)
        return response
