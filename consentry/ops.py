"""Operations endpoints: health, readiness, metrics and the well-known documents."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import text

from consentry.db import get_db
from consentry.metrics import CONTENT_TYPE, get_metrics
from consentry.migrate import migrations_current
from consentry.secretstore import get_keys

blp = Blueprint("ops", __name__, description="Health, readiness, metrics, well-known documents")

# These answers are sent as built; their schemas only document them (`alt_response`, not
# `response`, which would dump through them): a field added to a JWK reaches verifiers.


class HealthSchema(ma.Schema):
    status = ma.fields.String(metadata={"enum": ["ok"]})


class ReadySchema(ma.Schema):
    status = ma.fields.String(metadata={"enum": ["ok", "unavailable"]})
    database = ma.fields.String(metadata={"enum": ["ok", "unreachable"]})
    migrations = ma.fields.String(metadata={"enum": ["current", "behind"],
                                            "description": "Absent when unreachable"})


class JwkSchema(ma.Schema):
    """An Ed25519 public key (RFC 8037)."""

    kty = ma.fields.String(metadata={"enum": ["OKP"]})
    crv = ma.fields.String(metadata={"enum": ["Ed25519"]})
    x = ma.fields.String(metadata={"description": "The public key, base64url"})
    kid = ma.fields.String(metadata={"description": "Named by signatures and tokens"})
    use = ma.fields.String(metadata={"enum": ["sig"]})
    alg = ma.fields.String(metadata={"enum": ["EdDSA"]})


class JwksSchema(ma.Schema):
    keys = ma.fields.List(ma.fields.Nested(JwkSchema), metadata={
        "description": "Every signing key, newest first: old signatures keep verifying"})
    active_kid = ma.fields.String(metadata={"description": "The key that signs now"})
    log_origin = ma.fields.String(metadata={
        "description": "The audit log's C2SP checkpoint origin (and its notes' key name)"})
    note_verifiers = ma.fields.List(ma.fields.String(), metadata={
        "description": "Each key of `keys`, in the same order, as a C2SP signed-note "
                       "verifier key `<origin>+<hex key ID>+<base64(0x01 || public key)>`: "
                       "what witnesses need to check a bundle's checkpoint.note"})


class GpcSchema(ma.Schema):
    """The Global Privacy Control support resource."""

    gpc = ma.fields.Boolean(metadata={"description": "GPC signals are honoured"})
    lastUpdate = ma.fields.String(metadata={"format": "date"})  # GPC's own spelling


@blp.route("/healthz")
class Health(MethodView):
    @blp.alt_response(200, schema=HealthSchema, success=True)
    def get(self):
        """The process is up."""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.alt_response(200, schema=ReadySchema, success=True)
    @blp.alt_response(503, schema=ReadySchema,
                      description="Database unreachable or migrations not at head")
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
    @blp.alt_response(200, schema={"type": "string"}, content_type=CONTENT_TYPE,
                      description="Prometheus text format", success=True)
    def get(self):
        """Prometheus metrics of this process."""
        return Response(get_metrics().render(), content_type=CONTENT_TYPE)


@blp.route("/.well-known/consentry-keys")
class Keys(MethodView):
    @blp.alt_response(200, schema=JwksSchema, success=True)
    def get(self):
        """The public Ed25519 keys (JWKS) that verify receipts, tokens and checkpoints."""
        return get_keys().jwks()


@blp.route("/.well-known/gpc.json")
class Gpc(MethodView):
    @blp.alt_response(200, schema=GpcSchema, success=True)
    def get(self):
        """Global Privacy Control support statement."""
        return {"gpc": True, "lastUpdate": current_app.config["GPC_LAST_UPDATE"]}
