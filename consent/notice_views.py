"""HTTP views of privacy notices: record each version, list them."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from consent import notices
from consent.schemas import NoticeListSchema, NoticeSchema, NoticeVersionSchema, NoticeWriteSchema
from consentry.auth import current_principal, scoped
from consentry.clock import utcnow
from consentry.db import get_session
from consentry.openapi import error_response
from consentry.secretstore import get_keys

blp = Blueprint("notices", __name__, description="Privacy notices and their versions")


@blp.route("/v1/notices")
class Notices(MethodView):
    @scoped("policy:read")
    @blp.response(200, NoticeListSchema)
    def get(self):
        """Every notice with all its versions, oldest first."""
        return {"notices": notices.list_notices(get_session())}


@blp.route("/v1/notices/<notice_id>")
class Notice(MethodView):
    @scoped("policy:read")
    @blp.response(200, NoticeSchema)
    def get(self, notice_id):
        """One notice: every version, oldest first, and the newest (material) one."""
        return notices.get_notice(get_session(), notice_id)

    @scoped("admin")
    @blp.arguments(NoticeWriteSchema())
    @blp.response(201, NoticeVersionSchema)
    @blp.alt_response(200, schema=NoticeVersionSchema,
                      description="This version was recorded already, with the same body")
    @blp.alt_response(409, response=error_response(409))  # the version exists, differently
    def put(self, body, notice_id):
        """Record a version of a privacy notice (audited `notice.recorded`): `201`.

        A version never changes: the same version again with the same body is `200`,
        with another url, sha256 or material flag `409`. A version recorded later is
        newer; a material one asks everyone who chose under an older version to consent
        again (`reconsent_needed`).
        """
        row, created = notices.record_notice(get_session(), get_keys(), notice_id, body,
                                             current_principal().name, utcnow())
        return notices.notice_view(row), 201 if created else 200
