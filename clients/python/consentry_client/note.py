"""C2SP signed notes (c2sp.org/signed-note) and checkpoints (c2sp.org/tlog-checkpoint).

A bundle's `checkpoint.note` is the audit log's tree head as transparency-log tooling
(witnesses, monitors) reads it:

    <origin>\\n                         e.g. consent.example.com/audit/3f9c0a51d2e4b687
    <tree size>\\n                      ASCII decimal, no leading zeros
    <base64 root hash>\\n               standard base64 (RFC 4648 §4) of the 32-byte root
    \\n                                 the blank line
    — <origin> <base64(key ID || Ed25519 signature)>\\n

The signature is Ed25519 over the note text: the three lines, each with its newline,
not the blank line. The key ID is `SHA-256(name || 0x0A || 0x01 || public key)[:4]`
(signature type 0x01, Ed25519), and a verifier key is published as
`<name>+<hex key ID>+<base64(0x01 || public key)>`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
MAX_SIGNATURES = 100
_NAME = re.compile(r"[^\s+]+")
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


class NoteError(ValueError):
    """A note that is malformed or whose signatures do not verify."""


def check_name(name: str) -> str:
    """A key name (and checkpoint origin): non-empty, no Unicode space, no `+`."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise NoteError(f"not a note key name: {name!r}")
    return name


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID of an Ed25519 key under `name`."""
    return hashlib.sha256(check_name(name).encode() + b"\n" + bytes([ED25519])
                          + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The published verifier key: `<name>+<hex key ID>+<base64(0x01 || public key)>`."""
    return (f"{name}+{key_id(name, public_key).hex()}+"
            f"{base64.b64encode(bytes([ED25519]) + public_key).decode()}")


def parse_verifier_key(vkey: str) -> tuple[str, bytes]:
    """(name, 32-byte public key) of a verifier key; NoteError if it is not one."""
    parts = vkey.split("+") if isinstance(vkey, str) else []
    if len(parts) != 3:
        raise NoteError("a verifier key is <name>+<hex key ID>+<base64 key>")
    name, hexid, encoded = parts
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("a verifier key's key is not base64") from exc
    if len(raw) != 33 or raw[0] != ED25519:
        raise NoteError("not an Ed25519 verifier key")
    if key_id(name, raw[1:]).hex() != hexid:
        raise NoteError("a verifier key whose key ID does not match its key")
    return name, raw[1:]


def checkpoint_text(origin: str, tree_size: int, root_hash: bytes) -> str:
    """The note text of a checkpoint: origin, tree size, base64 root, each line ended."""
    if len(root_hash) != 32 or tree_size < 0:
        raise NoteError("a checkpoint is a size and a 32-byte root")
    return f"{check_name(origin)}\n{tree_size}\n{base64.b64encode(root_hash).decode()}\n"


def signature_line(name: str, public_key: bytes, signature: bytes) -> str:
    return (f"{SIGNATURE_PREFIX}{name} "
            f"{base64.b64encode(key_id(name, public_key) + signature).decode()}\n")


def split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """The text and the signatures (name, key ID, signature) of a signed note."""
    if not isinstance(note, str) or not note.endswith("\n"):
        raise NoteError("a signed note ends with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("a signed note holds no control character but newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("no blank line before the signatures")
    text, lines = note[:cut + 1], note[cut + 2:].splitlines()
    if not lines or len(lines) > MAX_SIGNATURES:
        raise NoteError("a signed note has 1 to 100 signature lines")
    signatures = []
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX) or line.count(" ") != 2:
            raise NoteError(f"not a signature line: {line[:60]!r}")
        name, encoded = line[len(SIGNATURE_PREFIX):].split(" ")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise NoteError("a signature that is not base64") from exc
        if len(blob) < 5:
            raise NoteError("a signature too short to hold a key ID")
        signatures.append((check_name(name), blob[:4], blob[4:]))
    return text, signatures


def verify_note(note: str, keys: list[tuple[str, bytes]]) -> str:
    """The note's text if a signature by one of `keys` ((name, Ed25519 public key)) verifies
    and none by a known key fails; signatures by unknown keys are ignored. Else NoteError."""
    text, signatures = split_note(note)
    known = {(name, key_id(name, pub)): pub for name, pub in keys}
    verified = False
    for name, kid, signature in signatures:
        pub = known.get((name, kid))
        if pub is None:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(pub).verify(signature, text.encode("utf-8"))
        except (InvalidSignature, ValueError) as exc:
            raise NoteError(f"the signature by {name} ({kid.hex()}) does not verify") from exc
        verified = True
    if not verified:
        raise NoteError("no signature by a known key")
    return text


def parse_checkpoint(text: str) -> tuple[str, int, bytes]:
    """(origin, tree size, root hash) of a checkpoint's note text."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
        raise NoteError("a checkpoint is three or more non-empty lines")
    origin, size, root = lines[0], lines[1], lines[2]
    if not _SIZE.fullmatch(size):
        raise NoteError("the tree size is not a decimal without leading zeros")
    try:
        digest = base64.b64decode(root, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("the root hash is not base64") from exc
    if len(digest) != 32 or base64.b64encode(digest).decode() != root:
        raise NoteError("the root hash is not the base64 of 32 bytes")
    return check_name(origin), int(size), digest
