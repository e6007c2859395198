"""Signing and encryption keys kept in the secrets directory.

Layout: `hmac.key` (subject references), `master.key` (wraps per-subject audit keys),
`signing/<kid>.pem` (Ed25519 private keys, every one ever used) and `signing/ACTIVE`
(the key id that signs now). Missing files are created on first start, with a warning.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from flask import Flask, current_app

from consentry.signing import public_jwk, sign_document, sign_jws

log = logging.getLogger("consentry.secrets")
EXTENSION = "consentry.secrets"


def _write_once(path: Path, data: bytes) -> bool:
    """Write `data` to `path` unless it exists; safe when several processes race."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent)
    try:
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        os.chmod(tmp, 0o600)
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


class SecretStore:
    """The service's keys, loaded from (and created in) one directory."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self._signing: dict[str, Ed25519PrivateKey] = {}
        self._active_kid: str | None = None
        self._hmac_key: bytes | None = None
        self._master_key: bytes | None = None

    def ensure(self) -> None:
        """Create whatever key is missing, warning that development keys were made."""
        created = []
        if _write_once(self.directory / "hmac.key", secrets.token_hex(32).encode()):
            created.append("hmac.key")
        if _write_once(self.directory / "master.key", secrets.token_hex(32).encode()):
            created.append("master.key")
        if not (self.directory / "signing" / "ACTIVE").exists():
            self.rotate_signing_key(only_if_missing=True)
            created.append("signing key")
        if created:
            log.warning("created new secrets in %s (%s): fine for development; in production "
                        "provision CONSENTRY_SECRETS_DIR and back it up", self.directory,
                        ", ".join(created))
        self.reload()

    def reload(self) -> None:
        """Read every key from disk again (after a rotation by another process)."""
        self._hmac_key = bytes.fromhex((self.directory / "hmac.key").read_text().strip())
        self._master_key = bytes.fromhex((self.directory / "master.key").read_text().strip())
        signing_dir = self.directory / "signing"
        self._signing = {}
        for pem in sorted(signing_dir.glob("*.pem")):
            key = load_pem_private_key(pem.read_bytes(), password=None)
            assert isinstance(key, Ed25519PrivateKey)
            self._signing[pem.stem] = key
        self._active_kid = (signing_dir / "ACTIVE").read_text().strip()
        if self._active_kid not in self._signing:
            raise RuntimeError(f"active signing key {self._active_kid!r} has no .pem file")

    def rotate_signing_key(self, only_if_missing: bool = False) -> str:
        """Make a new Ed25519 key the active one; old keys stay published."""
        kid = datetime.now(UTC).strftime("ed25519-%Y%m%dT%H%M%S-") + secrets.token_hex(3)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        signing_dir = self.directory / "signing"
        _write_once(signing_dir / f"{kid}.pem", pem)
        if only_if_missing:
            if not _write_once(signing_dir / "ACTIVE", kid.encode()):
                (signing_dir / f"{kid}.pem").unlink()
                return (signing_dir / "ACTIVE").read_text().strip()
        else:
            tmp = signing_dir / f".ACTIVE.{secrets.token_hex(4)}"
            tmp.write_text(kid)
            os.replace(tmp, signing_dir / "ACTIVE")
            self.reload()
        return kid

    @property
    def active_kid(self) -> str:
        assert self._active_kid
        return self._active_kid

    @property
    def master_key(self) -> bytes:
        assert self._master_key
        return self._master_key

    def subject_ref(self, subject_id: str) -> str:
        """Return the keyed reference (HMAC-SHA256) that stands for a subject id."""
        assert self._hmac_key
        return hmac.new(self._hmac_key, subject_id.encode("utf-8"), hashlib.sha256).hexdigest()

    def keyed_hash(self, purpose: str, value: str) -> str:
        """Return a keyed hash of `value` for `purpose` (an IP address, say)."""
        assert self._hmac_key
        msg = f"{purpose}\x00{value}".encode()
        return hmac.new(self._hmac_key, msg, hashlib.sha256).hexdigest()

    def sign(self, document: dict) -> dict:
        """Sign `document` (canonical JSON) with the active key; return the signature."""
        return sign_document(self._signing[self.active_kid], self.active_kid, document)

    def sign_token(self, payload: dict) -> str:
        """Return a compact JWS over `payload`, signed with the active key."""
        return sign_jws(self._signing[self.active_kid], self.active_kid, payload)

    def jwks(self) -> dict:
        """The public keys, newest first, as a JWKS document."""
        keys = [public_jwk(k.public_key(), kid) for kid, k in self._signing.items()]
        keys.sort(key=lambda k: k["kid"], reverse=True)
        return {"keys": keys, "active_kid": self.active_kid}


def init_app(app: Flask) -> None:
    """Open (creating what is missing) the secrets directory of `app`."""
    store = SecretStore(app.config["SECRETS_DIR"])
    store.ensure()
    app.extensions[EXTENSION] = store


def get_keys(app: Flask | None = None) -> SecretStore:
    """The signing and encryption keys of `app` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION]
