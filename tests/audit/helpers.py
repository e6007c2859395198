"""Build bundles through the service for the verifier tests."""

from __future__ import annotations

import zipfile
from pathlib import Path

from audit.export import ExportRequest, export_bundle
from consentry.db import get_db
from consentry.secretstore import get_keys
from consentry.signing import keys_by_kid


def make_bundle(app, out: Path, **request) -> Path:
    """Export through the service (as the API does) to `out`."""
    with app.app_context():
        export_bundle(get_db(), get_keys(),
                      ExportRequest(exporter="tests", reason="verify", **request), out=out)
    return out


def read_files(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def write_files(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def published_keys(app) -> dict:
    return keys_by_kid(app.extensions["consentry.secrets"].jwks())
