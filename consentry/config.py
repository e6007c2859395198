"""Configuration from the environment, with working defaults for a laptop."""

from __future__ import annotations

import os
from pathlib import Path


def _default_database_url() -> str:
    return f"sqlite:///{Path('var').resolve() / 'consentry.db'}"


def load_config(overrides: dict | None = None) -> dict:
    """Return the app configuration: environment first, then `overrides` on top."""
    env = os.environ
    config = {
        "DATABASE_URL": env.get("CONSENTRY_DATABASE_URL") or _default_database_url(),
        "POLICY_FILE": env.get("CONSENTRY_POLICY_FILE") or None,
        "SECRETS_DIR": env.get("CONSENTRY_SECRETS_DIR") or str(Path("var/secrets").resolve()),
        "MAX_CONTENT_LENGTH": int(env.get("CONSENTRY_MAX_BODY_BYTES", 1024 * 1024)),
        "API_KEY_CACHE_SECONDS": float(env.get("CONSENTRY_API_KEY_CACHE_SECONDS", 5)),
        "RATE_LIMIT_PER_SECOND": float(env.get("CONSENTRY_RATE_LIMIT_PER_SECOND", 0)),
        "RETENTION_CRON": env.get("CONSENTRY_RETENTION_CRON", "0 3 * * *"),
        "SCHEDULER_POLL_SECONDS": float(env.get("CONSENTRY_SCHEDULER_POLL_SECONDS", 2)),
        "LOG_LEVEL": env.get("CONSENTRY_LOG_LEVEL", "INFO"),
        # flask-smorest / OpenAPI
        "API_TITLE": "Consentry",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
        "JSON_SORT_KEYS": False,
    }
    if overrides:
        config.update(overrides)
    return config
