"""Signing and encryption keys kept in the secrets directory.

Layout: `hmac.key` (subject references), `master.key` (wraps per-subject audit keys),
`signing/<kid>.pem` (Ed25519 private keys, every one ever used, all published) and
`signing/ACTIVE` (the key id that signs now). Missing files are created on first start,
with a warning. Running processes pick up a rotation by another process: see
`SecretStore.rotate_signing_key` and docs/keys.md.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from consentry_client.canonical import SharedParts
from consentry_client.note import raw_public_key, verifier_key
from consentry_client.tokens import CONSENT_TOKEN_TYPE
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from flask import Flask, current_app

from consentry.config import DEFAULT_PUBLIC_URL
from consentry.signing import public_jwk, sign_document, sign_jws, sign_note

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


class _Keyring(NamedTuple):
    """The signing keys as last read from disk: every key (published) and the one that signs."""

    signing: dict[str, Ed25519PrivateKey]
    active_kid: str


class SecretStore:
    """The service's keys, loaded from (and created in) one directory.

    Signing keys are read again when the directory changes (a rotation by another process),
    looked at no more often than every `reload_seconds`, so every process publishes a new
    key within that time, and signs with it within that time of it being made active.
    """

    def __init__(self, directory: str | os.PathLike, reload_seconds: float = 5.0,
                 issuer: str = DEFAULT_PUBLIC_URL):
        self.directory = Path(directory)
        self.issuer = issuer  # the `iss` of every token signed here (CONSENTRY_PUBLIC_URL)
        self.reload_seconds = max(0.0, float(reload_seconds))
        self._keyring: _Keyring | None = None
        self._stamp: tuple | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._hmac_key: bytes | None = None
        self._master_key: bytes | None = None

    @property
    def publish_delay(self) -> float:
        """How long a new key is published before it signs: twice `reload_seconds`, so every
        process (each looks at least that often) publishes it before any signs with it."""
        return 2 * self.reload_seconds

    def ensure(self) -> None:
        """Create whatever key is missing, warning that development keys were made."""
        created = []
        if _write_once(self.directory / "hmac.key", secrets.token_hex(32).encode()):
            created.append("hmac.key")
        if _write_once(self.directory / "master.key", secrets.token_hex(32).encode()):
            created.append("master.key")
        if not (self.directory / "signing" / "ACTIVE").exists():
            self._first_signing_key()
            created.append("signing key")
        if created:
            log.warning("created new secrets in %s (%s): fine for development; in production "
                        "provision CONSENTRY_SECRETS_DIR and back it up", self.directory,
                        ", ".join(created))
        self.reload()

    def _signing_stamp(self) -> tuple:
        """What changes when a key is added or another is made active."""
        signing_dir = self.directory / "signing"
        pems = sorted(e.name for e in os.scandir(signing_dir) if e.name.endswith(".pem"))
        active = (signing_dir / "ACTIVE").stat()
        return tuple(pems), active.st_ino, active.st_mtime_ns, active.st_size

    def reload(self) -> None:
        """Read every key from disk again (after a rotation by another process)."""
        self._hmac_key = bytes.fromhex((self.directory / "hmac.key").read_text().strip())
        self._master_key = bytes.fromhex((self.directory / "master.key").read_text().strip())
        signing_dir = self.directory / "signing"
        stamp = self._signing_stamp()  # before reading, so a change while we read shows
        signing = {}
        for pem in sorted(signing_dir.glob("*.pem")):
            key = load_pem_private_key(pem.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise RuntimeError(f"signing key {pem.name} is not an Ed25519 key")
            signing[pem.stem] = key
        active_kid = (signing_dir / "ACTIVE").read_text().strip()
        if active_kid not in signing:
            raise RuntimeError(f"active signing key {active_kid!r} has no .pem file")
        self._keyring, self._stamp = _Keyring(signing, active_kid), stamp

    def _current(self) -> _Keyring:
        """The signing keys, read again first if the directory changed (checked at most
        every `reload_seconds`); on a broken directory the keys in memory stay in use."""
        if time.monotonic() - self._checked >= self.reload_seconds:
            with self._lock:
                if time.monotonic() - self._checked >= self.reload_seconds:
                    self._checked = time.monotonic()
                    try:
                        if self._signing_stamp() != self._stamp:
                            self.reload()
                    except (OSError, ValueError, RuntimeError) as exc:
                        log.error("signing keys in %s not reloaded, the loaded ones stay in "
                                  "use: %s", self.directory, exc)
        assert self._keyring
        return self._keyring

    def _first_signing_key(self) -> None:
        """Make the first signing key; when several processes race, one wins."""
        kid = self._new_signing_key()
        signing_dir = self.directory / "signing"
        if not _write_once(signing_dir / "ACTIVE", kid.encode()):
            (signing_dir / f"{kid}.pem").unlink()

    def _new_signing_key(self) -> str:
        kid = datetime.now(UTC).strftime("ed25519-%Y%m%dT%H%M%S-") + secrets.token_hex(3)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        _write_once(self.directory / "signing" / f"{kid}.pem", pem)
        return kid

    def add_signing_key(self) -> str:
        """Write a new Ed25519 key, published (by every process within `reload_seconds`)
        but not yet signing; return its key id."""
        kid = self._new_signing_key()
        self.reload()
        return kid

    def activate_signing_key(self, kid: str) -> None:
        """Make `kid`, a key added earlier, the one every process signs with."""
        signing_dir = self.directory / "signing"
        if not (signing_dir / f"{kid}.pem").exists():
            raise ValueError(f"no signing key {kid!r}")
        tmp = signing_dir / f".ACTIVE.{secrets.token_hex(4)}"
        tmp.write_text(kid)
        os.replace(tmp, signing_dir / "ACTIVE")
        self.reload()

    def rotate_signing_key(self, on_published: Callable[[str, float], None] | None = None
                           ) -> str:
        """Add a new key, wait `publish_delay` so every process publishes it, then make it
        the one that signs; old keys stay published. Return the new key id.

        So a verifier that fetched the keys after a token was signed can verify the token:
        no process signs with a key before every process publishes it.
        """
        kid = self.add_signing_key()
        if on_published is not None:
            on_published(kid, self.publish_delay)
        time.sleep(self.publish_delay)
        self.activate_signing_key(kid)
        return kid

    @property
    def active_kid(self) -> str:
        """The key id that signs now."""
        return self._current().active_kid

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

    def sign(self, document: dict, parts: SharedParts | None = None) -> dict:
        """Sign `document` (canonical JSON) with the active key; return the signature.
        `parts`: as `signing.sign_document` takes it (members many documents share)."""
        ring = self._current()
        return sign_document(ring.signing[ring.active_kid], ring.active_kid, document, parts)

    def sign_token(self, payload: dict, typ: str = CONSENT_TOKEN_TYPE) -> str:
        """Return a compact JWS of type `typ` over `payload` and `iss` (this deployment's
        public URL), signed with the active key."""
        ring = self._current()
        return sign_jws(ring.signing[ring.active_kid], ring.active_kid,
                        {"iss": self.issuer, **payload}, typ)

    @property
    def log_origin(self) -> str:
        """The audit log's C2SP checkpoint origin, also its notes' key name: the public URL's
        host and path, `/audit/`, and 16 hex digits keyed by this deployment's HMAC key, so
        two deployments never share an origin, even behind one URL."""
        parts = urllib.parse.urlsplit(self.issuer)
        host = (parts.hostname or "localhost") + (f":{parts.port}" if parts.port else "")
        path = parts.path.rstrip("/")
        return f"{host}{path}/audit/{self.keyed_hash('log-origin', 'audit')[:16]}"

    def sign_note(self, text: str) -> str:
        """A C2SP signed note of `text` by the active key, under the log origin."""
        ring = self._current()
        return sign_note(ring.signing[ring.active_kid], self.log_origin, text)

    def jwks(self) -> dict:
        """The public keys (every key in the directory, including one not signing yet),
        newest first, as a JWKS document; `note_verifiers` gives each as a C2SP verifier key
        under the log origin (for checkpoint notes), in the same order."""
        ring = self._current()
        keys = [public_jwk(k.public_key(), kid) for kid, k in ring.signing.items()]
        keys.sort(key=lambda k: k["kid"], reverse=True)
        origin = self.log_origin
        verifiers = [verifier_key(origin, raw_public_key(ring.signing[k["kid"]].public_key()))
                     for k in keys]
        return {"keys": keys, "active_kid": ring.active_kid, "log_origin": origin,
                "note_verifiers": verifiers}


def init_app(app: Flask) -> None:
    """Open (creating what is missing) the secrets directory of `app`."""
    store = SecretStore(app.config["SECRETS_DIR"], app.config["KEY_RELOAD_SECONDS"],
                        app.config["PUBLIC_URL"])
    store.ensure()
    app.extensions[EXTENSION] = store


def get_keys(app: Flask | None = None) -> SecretStore:
    """The signing and encryption keys of `app` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION]
