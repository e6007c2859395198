"""Build bundles through the service for the verifier tests."""

from __future__ import annotations

import warnings
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


def write_members(path: Path, members: list[tuple[str, bytes]]) -> Path:
    """Write members in this order, the same name more than once if asked (as a forger may)."""
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns of a duplicate name
        for name, data in members:
            z.writestr(name, data)
    return path


def write_bomb(path: Path, files: dict[str, bytes], name: str, mib: int) -> Path:
    """The bundle's files with `name` replaced by `mib` MiB of zeros (expands ~200 times)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for other, data in files.items():
            if other != name:
                z.writestr(other, data)
        with z.open(name, "w") as f:
            for _ in range(mib):
                f.write(bytes(1 << 20))
    return path
