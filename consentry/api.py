"""flask-smorest's Api, answering errors with Consentry's envelope."""

from __future__ import annotations

from flask_smorest import Api as _Api

from consentry.errors import ErrorSchema, handle_http_exception


class Api(_Api):
    """The OpenAPI-documented API; every documented error uses the envelope."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        return handle_http_exception(error)


api = Api()
