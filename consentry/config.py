"""Configuration: every setting, its environment variable, type and default, read once.

This is the only module that reads the environment. `create_app` calls `load_config`
once; everything else reads `app.config`. The README's configuration table is
checked against `SETTINGS` by a test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _var(name: str) -> Callable[[], str]:
    return lambda: str(Path("var").resolve() / name)


@dataclass(frozen=True)
class Setting:
    """One setting: its `app.config` key, environment variable, type and default."""

    key: str
    type: Callable[[str], Any]
    default: Any  # a value, or a callable giving it (paths resolve at load time)
    env: str | None = None  # default: CONSENTRY_<key>

    @property
    def variable(self) -> str:
        return self.env or f"CONSENTRY_{self.key}"

    def read(self, environ: Mapping[str, str]) -> Any:
        raw = environ.get(self.variable)
        if raw:
            try:
                return self.type(raw)
            except ValueError as exc:
                raise ValueError(f"{self.variable}={raw!r}: {exc}") from exc
        return self.default() if callable(self.default) else self.default


DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def _public_url(raw: str) -> str:
    url = raw.rstrip("/") or raw
    if not (url.startswith("https://") or url.startswith("http://")) or "://" == url[-3:]:
        raise ValueError("must be an http(s) URL such as https://consent.example.com")
    return url


def _host_list(raw: str) -> tuple[str, ...]:
    hosts = tuple(h.strip().lower() for h in raw.split(",") if h.strip())
    if any("/" in h or " " in h for h in hosts):
        raise ValueError("host names separated by commas, such as consent.example.com")
    return hosts


def _optional(raw: str) -> str | None:
    return raw or None


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", str, lambda: f"sqlite:///{Path('var').resolve() / 'consentry.db'}"),
    Setting("POLICY_FILE", _optional, None),
    Setting("SECRETS_DIR", str, _var("secrets")),
    # the deployment's own URL: the `iss` of its tokens, the origin of its checkpoints
    Setting("PUBLIC_URL", _public_url, DEFAULT_PUBLIC_URL),
    # host names this service answers to (comma-separated); any other Host header: 400
    Setting("ALLOWED_HOSTS", _host_list, ()),
    Setting("MAX_CONTENT_LENGTH", int, 1024 * 1024, env="CONSENTRY_MAX_BODY_BYTES"),
    Setting("API_KEY_CACHE_SECONDS", float, 5.0),
    # how often a process looks for a rotated signing key (see docs/keys.md)
    Setting("KEY_RELOAD_SECONDS", float, 5.0),
    Setting("RATE_LIMIT_PER_SECOND", float, 0.0),
    # redis://host:6379/0: one bucket per key across every process and host
    Setting("RATE_LIMIT_STORE", _optional, None),
    # failed console sign-ins allowed at once per account and per address, and the
    # seconds after which each further one may be tried
    Setting("SIGN_IN_FAILURES", int, 10),
    Setting("SIGN_IN_FAILURE_SECONDS", float, 30.0),
    # single sign-on to the console (OpenID Connect): all three set, or SSO is off
    Setting("OIDC_ISSUER", _optional, None),
    Setting("OIDC_CLIENT_ID", _optional, None),
    Setting("OIDC_CLIENT_SECRET", _optional, None),
    Setting("RETENTION_CRON", str, "0 3 * * *"),
    Setting("SCHEDULER_POLL_SECONDS", float, 2.0),
    # seconds a runner's lease lasts without renewal; a dead runner's work is
    # recovered by the first scheduler poll after it expires
    Setting("RETENTION_LEASE_SECONDS", float, 60.0),
    Setting("RETENTION_BATCH_ROWS", int, 10_000),
    Setting("RETENTION_BATCH_SECONDS", float, 0.25),
    Setting("AUDIT_EXPORT_DIR", str, _var("exports")),
    Setting("AUDIT_EXPORT_KEEP_DAYS", int, 30),
    Setting("AUDIT_CHECKPOINT_TRIGGER", str, "interval:300"),
    # how often the scheduler's sequencer looks for queued audit entries: what a write
    # waits, at most, before its entry is in the log and its change in /v1/changes
    Setting("AUDIT_SEQUENCE_SECONDS", float, 0.05),
    # true: a transaction that queued audit entries sequences them right after it
    # commits (tests; one process with no scheduler), on top of the scheduler's sequencer
    Setting("AUDIT_SEQUENCE_INLINE", _flag, False),
    Setting("CHANGE_FEED_KEEP_DAYS", int, 30),
    # false: the gate's single lookup goes through Flask's whole request machinery too
    # (consentry/fastpath.py answers its plain requests without it, the same way)
    Setting("FAST_PATHS", _flag, True),
    # how long a link to a person's page (preferences, "why am I seeing this") opens it
    Setting("PAGE_LINK_SECONDS", int, 3600),
    # "serializable" runs every transaction SERIALIZABLE (as a distributed PostgreSQL-
    # compatible engine does) and retries a request whose transaction hits a
    # serialization failure, at most DB_RETRY_ATTEMPTS times in all
    Setting("DB_ISOLATION", str, "default"),
    Setting("DB_RETRY_ATTEMPTS", int, 30),
    # false behind a pooler in transaction mode (PgBouncer): no server-side prepared
    # statements, which would outlive the transaction on a pooled server connection
    Setting("DB_PREPARED_STATEMENTS", _flag, True),
    # webhooks: http:// URLs (tests, a laptop) and private/loopback addresses allowed
    Setting("WEBHOOK_ALLOW_HTTP", _flag, False),
    Setting("WEBHOOK_ALLOW_PRIVATE", _flag, False),
    # how long a delivery may take in all (connect, send, answer)
    Setting("WEBHOOK_TIMEOUT_SECONDS", float, 10.0),
    # how often the scheduler looks for due deliveries; its sender's lease
    Setting("WEBHOOK_POLL_SECONDS", float, 1.0),
    Setting("WEBHOOK_LEASE_SECONDS", float, 30.0),
    # deliveries sent at once (of different subjects), and read from the outbox a round
    Setting("WEBHOOK_WORKERS", int, 16),
    Setting("WEBHOOK_BATCH", int, 500),
    Setting("LOG_LEVEL", str, "INFO"),
    Setting("PROMETHEUS_MULTIPROC_DIR", _optional, None, env="PROMETHEUS_MULTIPROC_DIR"),
)

# Fixed settings of the frameworks (not configurable from the environment).
FRAMEWORK = {
    "API_TITLE": "Consentry",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    # Swagger UI's files, served by consentry/api.py from the pinned flask-swagger-ui
    # package; relative to /docs, so the page also works behind a path prefix.
    "OPENAPI_SWAGGER_UI_URL": "docs/",
    "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None},  # no call to the online validator
    "JSON_SORT_KEYS": False,
    "GPC_LAST_UPDATE": "2026-11-01",
}

MAX_RETENTION_BATCH_ROWS = 10_000


def load_config(overrides: Mapping[str, Any] | None = None,
                environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the app configuration: defaults, then the environment, then `overrides`."""
    environ = os.environ if environ is None else environ
    config: dict[str, Any] = dict(FRAMEWORK)
    config.update({s.key: s.read(environ) for s in SETTINGS})
    if overrides:
        config.update(overrides)
    # Links start with the public URL only when it was given (else: the request's host).
    config["PUBLIC_URL_GIVEN"] = bool(environ.get("CONSENTRY_PUBLIC_URL")) or \
        "PUBLIC_URL" in (overrides or {})
    # Flask refuses a request whose Host is not listed (400), before any view runs.
    config["TRUSTED_HOSTS"] = list(config["ALLOWED_HOSTS"]) or None
    config["RETENTION_BATCH_ROWS"] = min(int(config["RETENTION_BATCH_ROWS"]),
                                         MAX_RETENTION_BATCH_ROWS)
    return config
