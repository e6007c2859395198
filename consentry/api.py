"""flask-smorest's Api, answering errors with Consentry's envelope; `/docs` served locally."""

from __future__ import annotations

from importlib import resources

from flask import Blueprint, Flask
from flask_smorest import Api as _Api

from consentry.errors import ErrorSchema, handle_http_exception
from consentry.openapi import ContractPlugin, register_errors, register_headers

# Swagger UI's files come pinned with the package flask-swagger-ui (pyproject.toml) and are
# served by this process, so /docs loads nothing from another origin.
SWAGGER_UI_FILES = "/docs"  # /docs/swagger-ui.css, ...: beside the page itself


def _swagger_ui_blueprint() -> Blueprint:
    dist = resources.files("flask_swagger_ui") / "dist"
    return Blueprint("swagger_ui_files", __name__, static_folder=str(dist),
                     static_url_path=SWAGGER_UI_FILES)


class Api(_Api):
    """The OpenAPI-documented API; every documented error uses the envelope."""

    ERROR_SCHEMA = ErrorSchema

    def init_app(self, app: Flask, *args, **kwargs) -> None:
        super().init_app(app, *args, **kwargs)
        app.register_blueprint(_swagger_ui_blueprint())

    def handle_http_exception(self, error):
        return handle_http_exception(error)

    def _init_spec(self, **kwargs):
        """The spec, with what every route says alike (consentry.openapi)."""
        plugins = [*(kwargs.pop("extra_plugins", None) or ()), ContractPlugin()]
        super()._init_spec(extra_plugins=plugins, **kwargs)

    def _register_responses(self):
        register_headers(self.spec)
        super()._register_responses()
        register_errors(self.spec, self.ERROR_SCHEMA, self.DEFAULT_RESPONSE_CONTENT_TYPE)


api = Api()
