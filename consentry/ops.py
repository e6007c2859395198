"""Operations endpoints: health, readiness, metrics and the well-known documents."""

from __future__ import annotations

from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import text

from consentry.db import get_db
from consentry.metrics import CONTENT_TYPE, get_metrics
from consentry.migrate import migrations_current
from consentry.secretstore import get_keys

blp = Blueprint("ops", __name__, description="Health, readiness, metrics, well-known documents")


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200)
    def get(self):
        """The process is up."""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200)
    @blp.alt_response(503, description="Database unreachable or migrations not at head")
    def get(self):
        """The database answers and its migrations are at head."""
        db = get_db()
        try:
            with db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                current = migrations_current(conn)
        except Exception as exc:  # any failure to reach the database means not ready
            current_app.logger.warning("readyz: database unreachable: %s", exc)
            return {"status": "unavailable", "database": "unreachable"}, 503
        if not current:
            return {"status": "unavailable", "database": "ok", "migrations": "behind"}, 503
        return {"status": "ok", "database": "ok", "migrations": "current"}


@blp.route("/metrics")
class MetricsView(MethodView):
    @blp.response(200, content_type=CONTENT_TYPE)
    def get(self):
        """Prometheus metrics of this process."""
        return Response(get_metrics().render(), content_type=CONTENT_TYPE)


@blp.route("/.well-known/consentry-keys")
class Keys(MethodView):
    @blp.response(200)
    def get(self):
        """The public Ed25519 keys (JWKS) that verify receipts, tokens and checkpoints."""
        return get_keys().jwks()


@blp.route("/.well-known/gpc.json")
class Gpc(MethodView):
    @blp.response(200)
    def get(self):
        """Global Privacy Control support statement."""
        return {"gpc": True, "lastUpdate": current_app.config["GPC_LAST_UPDATE"]}
