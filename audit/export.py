"""Export bundles: the audit log (or a filtered part) as a signed, self-proving zip.

Written streaming: entries go from a server-side cursor straight into the zip, so
memory stays flat whatever the size, apart from 32 bytes per entry of leaf hashes
when proofs over the whole tree are needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.orm import Session

from audit import merkle
from audit.chain import entry_document, format_ts
from audit.checkpoints import (
    checkpoint_note,
    checkpoint_statement,
    create_checkpoint,
    load_leaves,
)
from audit.models import AuditCheckpoint, AuditEntry, AuditExport, SubjectKey
from audit.service import append_entry, integrate_all
from audit.verify import SUBJECT_ACCESS, verify_bundle
from consentry.canonical import b64url_decode, canonical_json
from consentry.clock import utcnow
from consentry.db import Database
from consentry.errors import DomainError, Invalid, NotFound
from consentry.secretstore import SecretStore
from consentry.signing import keys_by_kid

BUNDLE_VERSION = 1
CSV_COLUMNS = ["seq", "ts", "actor", "action", "subject_ref", "details", "personal",
               "prev_hash", "entry_hash"]
SHREDDED = "[shredded]"
UNREADABLE = "[unreadable]"
# A removed bundle's record keeps its row, its path replaced by why it went.
EXPIRED = "(expired)"
ERASED = "(erased)"
GONE = (EXPIRED, ERASED)
# What a bundle answers: an audit export, or one person's subject access export (GDPR
# Art. 15), which adds the files the composition root's SUBJECT_FILES builder gives.
AUDIT = "audit"
EXPORT_KINDS = (AUDIT, SUBJECT_ACCESS)
# Where app.py puts the builder of a subject access bundle's own files (audit imports
# neither consent nor retention): build(session, keys, policy, subject_id) -> Attachments
SUBJECT_FILES = "audit.subject_files"
# A person's own audit fields that a subject access bundle opens; free text staff wrote
# (a hold's or an erasure's reason) stays sealed, marked WITHHELD.
OWN_PERSONAL_FIELDS = ("evidence",)
WITHHELD = "[withheld]"
# What each of the audit files of a bundle is (the manifest's `contents`).
AUDIT_FILES = {
    "entries.jsonl": "the audit entries, one canonical JSON document a line, as hashed",
    "entries.csv": "the same entries as CSV, with the personal fields opened where the "
                   "key still exists",
    "checkpoint.json": "the signed checkpoint (Merkle tree head) the export ends at",
    "checkpoint.note": "the same checkpoint as a C2SP signed note (tlog-checkpoint), for "
                       "transparency-log witness tooling",
    "previous_checkpoint.json": "the checkpoint of the previous export",
    "previous_checkpoint.note": "the previous export's checkpoint as a C2SP signed note",
    "consistency.json": "the proof that this tree extends the previous checkpoint's",
    "inclusion.jsonl": "inclusion proofs of the entries in the checkpoint's tree",
    "keys.json": "the service's public keys (JWKS) when the bundle was written",
}


class ExportGone(DomainError):
    """The bundle existed and was deleted on purpose (410): by age, or by an erasure."""

    status = 410
    code = "gone"


@dataclass(frozen=True)
class ExportRequest:
    """What to export, who asks and why."""

    exporter: str
    reason: str = ""
    since: datetime | None = None
    until: datetime | None = None
    subject_id: str | None = None
    action: str | None = None
    format: str = "jsonl"
    kind: str = AUDIT


@dataclass(frozen=True)
class Attachments:
    """A bundle's files beyond the audit log's: name → bytes, what each is (`contents`)
    and a summary for the manifest. The manifest lists each with its SHA-256."""

    files: dict[str, bytes]
    contents: dict[str, str]
    summary: dict


class _HashingWriter:
    """Write through to a stream, hashing what passes."""

    def __init__(self, stream):
        self.stream = stream
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.sha.update(data)
        self.stream.write(data)


class _SubjectKeys:
    """Per-subject data keys for the CSV's readable personal fields, cached while exporting."""

    LIMIT = 10_000

    def __init__(self, session: Session, keys: SecretStore):
        self.session = session
        self.master = AESGCM(keys.master_key)
        self.cache: dict[str, bytes | None] = {}
        self.shredded: set[str] = set()

    def key(self, ref: str) -> bytes | None:
        if ref not in self.cache:
            if len(self.cache) >= self.LIMIT:
                self.cache.clear()
            wrapped = self.session.scalar(
                select(SubjectKey.wrapped_key).where(SubjectKey.subject_ref == ref))
            self.cache[ref] = (None if wrapped is None else
                               self.master.decrypt(wrapped[:12], wrapped[12:], ref.encode()))
        return self.cache[ref]

    def open(self, ref: str | None, sealed, only: tuple[str, ...] | None = None) -> str:
        """The personal fields as JSON text, SHREDDED when the key is gone, '' when none.

        With `only`, the other fields are not shown: each reads WITHHELD."""
        if not sealed or not ref:
            return ""
        if sealed.get("shredded"):
            self.shredded.add(ref)
            return SHREDDED
        key = self.key(ref)
        if key is None:
            self.shredded.add(ref)
            return SHREDDED
        try:
            plaintext = AESGCM(key).decrypt(b64url_decode(sealed["nonce"]),
                                            b64url_decode(sealed["ct"]), ref.encode())
        except (InvalidTag, KeyError, ValueError):  # the chain will show the damage
            return UNREADABLE
        if only is not None:
            opened = json.loads(plaintext)
            return json.dumps({k: v if k in only else WITHHELD for k, v in opened.items()},
                              sort_keys=True, ensure_ascii=False)
        return plaintext.decode("utf-8")


def _filters(keys: SecretStore, request: ExportRequest, size: int) -> list:
    conditions = [AuditEntry.seq <= size]
    if request.since is not None:
        conditions.append(AuditEntry.ts >= request.since)
    if request.until is not None:
        conditions.append(AuditEntry.ts < request.until)
    if request.subject_id is not None:
        conditions.append(AuditEntry.subject_ref == keys.subject_ref(request.subject_id))
    if request.action is not None:
        conditions.append(AuditEntry.action == request.action)
    return conditions


def _previous_checkpoint(session: Session, size: int) -> AuditCheckpoint | None:
    previous = session.scalars(
        select(AuditExport).where(AuditExport.checkpoint_size <= size)
        .order_by(AuditExport.created_at.desc()).limit(1)).first()
    if previous is None or previous.checkpoint_size == 0:
        return None
    return session.scalars(select(AuditCheckpoint).where(
        AuditCheckpoint.tree_size == previous.checkpoint_size)).first()


def count_entries(session: Session, keys: SecretStore, request: ExportRequest) -> int:
    """How many entries an export of `request` would hold now (for a progress bar)."""
    head_size = session.scalar(select(func.max(AuditEntry.seq))) or 0
    return session.scalar(select(func.count()).select_from(AuditEntry)
                          .where(*_filters(keys, request, head_size))) or 0


def check_request(request: ExportRequest) -> None:
    """Reject an export request that cannot be carried out (422)."""
    if request.kind not in EXPORT_KINDS:
        raise ValueError(f"unknown export kind {request.kind!r}")
    if request.kind == SUBJECT_ACCESS and request.subject_id is None:
        raise Invalid("a subject access export names its subject",
                      fields={"subject_id": ["Missing data for required field."]})
    if request.format not in ("jsonl", "csv"):
        raise Invalid("format must be jsonl or csv", fields={"format": ["Must be jsonl or csv."]})
    if request.since and request.until and request.since >= request.until:
        raise Invalid("since must be before until", fields={"until": ["Must be after since."]})


def _private_file(path: Path) -> Path:
    """Create `path` empty and readable by the service's user only (0600), never through
    a file or link already there: bundles hold decrypted personal fields."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path


def create_export(session: Session, keys: SecretStore, request: ExportRequest,
                  out: str | os.PathLike,
                  progress: Callable[[int], None] | None = None,
                  checkpoint: AuditCheckpoint | None = None, save: bool = True,
                  export_id: str | None = None,
                  attach: Callable[[Session, int], Attachments] | None = None) -> AuditExport:
    """Write a bundle for `request` to `out` (a file, or a directory to put it in) and
    record it, under `export_id` (a new id when None).

    `attach(session, count)` gives the files a subject access bundle adds (`count`: how
    many entries it holds); it reads in the same transaction as the entries, so both
    show one moment.

    Given a `checkpoint` (the tree head the export ends at) and `save=False`, it only
    reads, so it can run in a read transaction; the caller stores the returned record.
    """
    check_request(request)
    if checkpoint is None:
        checkpoint = create_checkpoint(session, keys, reason="export")
    size = checkpoint.tree_size
    export_id = export_id or uuid.uuid4().hex
    path = Path(out)
    if path.is_dir():
        path = path / f"{export_id}.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    filtered = request.subject_id is not None or request.action is not None
    previous = _previous_checkpoint(session, size)
    subject_keys = _SubjectKeys(session, keys)
    only = OWN_PERSONAL_FIELDS if request.kind == SUBJECT_ACCESS else None

    # ts and details come back as the driver gives them (SQLite: text), decoded below
    # faster than the generic type processing does it.
    stmt = (select(AuditEntry.seq, type_coerce(AuditEntry.ts, String), AuditEntry.actor,
                   AuditEntry.action, AuditEntry.subject_ref,
                   type_coerce(AuditEntry.details, String), AuditEntry.prev_hash,
                   AuditEntry.entry_hash)
            .where(*_filters(keys, request, size)).order_by(AuditEntry.seq)
            .execution_options(yield_per=5_000))
    file_hashes: dict[str, str] = {}
    seqs: list[int] = []  # only kept for filtered exports, which prove each entry
    count = 0
    first_seq = last_seq = None
    first_prev_hash = last_entry_hash = None
    tmp = path.with_name(f".{export_id}.tmp")
    csv_tmp = path.with_name(f".{export_id}.csv.tmp")
    try:
        with zipfile.ZipFile(_private_file(tmp), "w", compression=zipfile.ZIP_DEFLATED,
                             compresslevel=1) as bundle, \
                open(_private_file(csv_tmp), "w", newline="", encoding="utf-8") as csv_file:
            csv_file.write(",".join(CSV_COLUMNS) + "\r\n")
            with bundle.open("entries.jsonl", "w", force_zip64=True) as raw:
                jsonl = _HashingWriter(raw)
                chunk: list[bytes] = []
                csv_rows: list[str] = []
                for seq, ts, actor, action, ref, details, prev_hash, digest in \
                        session.execute(stmt):
                    if type(details) is str:
                        details = orjson.loads(details)
                    document = entry_document(seq, _ts(ts), actor, action, ref, details,
                                              prev_hash)
                    text = _encode(document)
                    chunk.append(text.encode("utf-8") + b"\n")
                    if "personal" in details:
                        personal = subject_keys.open(ref, details.get("personal"), only)
                        clear = _encode({k: v for k, v in details.items() if k != "personal"})
                    else:  # the details as they appear in the line: keys sort before prev_hash
                        personal = ""
                        clear = text[text.index(',"details":') + 11:text.rindex(',"prev_hash":"')]
                    csv_rows.append(
                        f"{seq},{document['ts']},{_csv_field(actor)},{_csv_field(action)},"
                        f"{ref or ''},{_csv_field(clear)},{_csv_field(personal)},"
                        f"{prev_hash},{digest}\r\n")
                    if count == 0:
                        first_seq, first_prev_hash = seq, prev_hash
                    last_seq, last_entry_hash = seq, digest
                    if filtered:
                        seqs.append(seq)
                    count += 1
                    if len(chunk) >= 2_000:
                        jsonl.write(b"".join(chunk))
                        csv_file.write("".join(csv_rows))
                        chunk, csv_rows = [], []
                        if progress:
                            progress(2_000)
                if chunk:
                    jsonl.write(b"".join(chunk))
                    csv_file.write("".join(csv_rows))
                    if progress:
                        progress(len(chunk))
            file_hashes["entries.jsonl"] = jsonl.sha.hexdigest()
            csv_file.flush()
            bundle.write(csv_tmp, "entries.csv")
            file_hashes["entries.csv"] = _file_sha256(csv_tmp)

            def add(name: str, data: bytes) -> None:
                bundle.writestr(name, data)
                file_hashes[name] = hashlib.sha256(data).hexdigest()

            add("checkpoint.json", _pretty(checkpoint_statement(checkpoint)))
            add("checkpoint.note", checkpoint_note(keys, checkpoint).encode("utf-8"))
            needs_tree = count > 0 or (previous is not None and previous.tree_size < size)
            leaves = load_leaves(session, size) if needs_tree else merkle.LeafArray()
            if previous is not None:
                add("previous_checkpoint.json", _pretty(checkpoint_statement(previous)))
                add("previous_checkpoint.note", checkpoint_note(keys, previous).encode("utf-8"))
                proof = (merkle.consistency_proof(leaves, previous.tree_size, size)
                         if previous.tree_size < size else [])
                add("consistency.json", _pretty({"from_size": previous.tree_size,
                                                 "to_size": size,
                                                 "proof": [h.hex() for h in proof]}))
            proven = seqs if filtered else ([last_seq] if last_seq is not None else [])
            proofs = merkle.inclusion_proofs(leaves, [s - 1 for s in proven], size)
            add("inclusion.jsonl", b"".join(
                canonical_json({"seq": s, "proof": [h.hex() for h in proofs[s - 1]]}) + b"\n"
                for s in proven))
            jwks = keys.jwks()
            add("keys.json", _pretty(jwks))
            contents = {name: AUDIT_FILES[name] for name in file_hashes}
            attached = attach(session, count) if attach is not None else None
            if attached is not None:
                for name, data in attached.files.items():
                    if name in file_hashes:
                        raise ValueError(f"attachment {name!r} would replace a bundle file")
                    add(name, data)
                contents.update(attached.contents)
            created_at = utcnow()
            manifest = {
                "v": BUNDLE_VERSION,
                "kind": request.kind,
                "export_id": export_id,
                "created_at": format_ts(created_at),
                "exporter": request.exporter,
                "reason": request.reason,
                "format": request.format,
                "range": {"since": format_ts(request.since) if request.since else None,
                          "until": format_ts(request.until) if request.until else None,
                          "first_seq": first_seq, "last_seq": last_seq,
                          "first_prev_hash": first_prev_hash,
                          "last_entry_hash": last_entry_hash},
                "filter": ({"subject_ref": keys.subject_ref(request.subject_id)
                            if request.subject_id is not None else None,
                            "action": request.action} if filtered else None),
                "count": count,
                "tree_size": size,
                "root_hash": checkpoint.root_hash,
                "previous_tree_size": previous.tree_size if previous is not None else None,
                "shredded_subjects": sorted(subject_keys.shredded),
                "files": dict(sorted(file_hashes.items())),
                "contents": dict(sorted(contents.items())),
                "kid": keys.active_kid,
                "log_origin": keys.log_origin,
                "note_verifier": next(
                    v for k, v in zip(jwks["keys"], jwks["note_verifiers"], strict=True)
                    if k["kid"] == jwks["active_kid"]),
            }
            if attached is not None:
                manifest["subject_access"] = attached.summary
            bundle.writestr("manifest.json", _pretty(manifest))
            bundle.writestr("manifest.sig", _pretty(keys.sign(manifest)))
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, csv_tmp):
            if leftover.exists():
                leftover.unlink()
    # Verified once, here, as a reader would verify it offline; the console shows what was
    # found (verifying a large bundle on every view of its page took seconds each time).
    verification = verification_summary(
        verify_bundle(str(path), public_keys=keys_by_kid(keys.jwks())), utcnow(), path,
        at_build=True)
    record = AuditExport(id=export_id, created_at=created_at, exporter=request.exporter,
                         reason=request.reason, since=request.since, until=request.until,
                         subject_ref=manifest["filter"]["subject_ref"] if filtered else None,
                         action=request.action, format=request.format, kind=request.kind,
                         checkpoint_size=size, count=count, path=str(path.resolve()),
                         sha256=_file_sha256(path), size_bytes=path.stat().st_size,
                         verification=verification)
    if save:
        session.add(record)
        session.flush()
    return record


MAX_FINDINGS_KEPT = 50  # findings a verification keeps word for word (it counts them all)


def verification_summary(report, verified_at: datetime, path: str | os.PathLike,
                         at_build: bool = False) -> dict:
    """What the verifier found in the bundle at `path`, as its record keeps it: `ok`,
    `count` (entries), `unusable`, the first MAX_FINDINGS_KEPT `findings` and how many
    `more`, `shredded` (entries of erased subjects), its `notes`, `verified_at`, and
    the file's size and modification time then (`kept_verification` compares them)."""
    try:
        stat = os.stat(path)
        file = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    except OSError:
        file = None
    return {"ok": report.exit_code == 0 and not report.findings, "count": report.count,
            "unusable": report.unusable,
            "findings": [str(f) for f in report.findings[:MAX_FINDINGS_KEPT]],
            "more": max(0, len(report.findings) - MAX_FINDINGS_KEPT),
            "shredded": len(report.shredded), "notes": list(report.notes),
            "verified_at": format_ts(verified_at), "at_build": at_build, "file": file}


def kept_verification(record: AuditExport) -> dict | None:
    """The verification kept when the bundle was built, while the file on disk is still
    the one verified (same size and modification time: a stat, not a read); None when
    it is not (or none was kept): the caller verifies the file as it is now."""
    kept = record.verification
    if not kept or not kept.get("file"):
        return None
    try:
        stat = os.stat(record.path)
    except OSError:
        return None
    if (stat.st_size, stat.st_mtime_ns) != (kept["file"]["size"], kept["file"]["mtime_ns"]):
        return None
    return kept


# The stored rows passed canonical_json's checks when they were appended, so the export
# encodes them without its per-value scan, and with orjson: sorted keys, compact, UTF-8
# unescaped — byte for byte what canonical_json (RFC 8785) gives, except that orjson
# sorts names by code point and JCS by UTF-16 code unit: a line holding a character at
# or above U+E000 (where the two orders can differ) is encoded by canonical_json itself.
# tests/audit/test_encoding.py holds it to that. A float in a tampered row changes its
# hash, which the verifier reports.
_ABOVE_E000 = re.compile("[\ue000-\U0010ffff]")


def _encode(document) -> str:
    text = orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    if not text.isascii() and _ABOVE_E000.search(text):
        return canonical_json(document).decode("utf-8")
    return text


def _csv_field(text: str) -> str:
    """Quote a CSV field as the csv module's QUOTE_MINIMAL does (four times faster here)."""
    if '"' in text or "," in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _ts(ts: datetime | str) -> str:
    """format_ts, faster for the UTC timestamps the database hands back."""
    if type(ts) is str:
        # SQLite stores UTC as 'YYYY-MM-DD HH:MM:SS.ffffff'; anything else is parsed
        if len(ts) == 26 and ts[10] == " " and ts[19] == ".":
            return ts.replace(" ", "T") + "Z"
        ts = datetime.fromisoformat(ts)
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
    if ts.utcoffset() == timedelta(0):
        return ts.isoformat(timespec="microseconds")[:-6] + "Z"
    return format_ts(ts)


def _pretty(value) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n"


def _file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def gone_reason(record: AuditExport) -> str | None:
    """Why a recorded bundle is no longer kept ("expired", "erased"), or None if it is."""
    return {EXPIRED: "expired", ERASED: "erased"}.get(record.path)


def get_export(session: Session, export_id: str) -> AuditExport:
    """Return the export `export_id` whose bundle is still on disk.

    Raises ExportGone (410) saying why for a bundle retention removed, NotFound otherwise.
    """
    record = session.get(AuditExport, export_id) if len(export_id) <= 32 else None
    reason = gone_reason(record) if record is not None else None
    if reason == "erased":
        raise ExportGone(
            f"Export {export_id} was deleted by an erasure: it held audit entries of a "
            f"subject whose data was erased (GDPR Art. 17). The record of who exported "
            f"what stays; request a new export, which shows that subject as shredded.")
    if reason == "expired":
        raise ExportGone(
            f"Export {export_id} expired: bundles are kept for CONSENTRY_AUDIT_EXPORT_KEEP_DAYS "
            f"days after they are written. Request a new export.")
    if record is None or not Path(record.path).exists():
        raise NotFound(f"no export {export_id!r}")
    return record


# How many times an export is written again because subjects were erased meanwhile.
EXPORT_ATTEMPTS = 3


class _ErasedMeanwhile(Exception):
    """A subject whose fields the bundle decrypted was erased before it was recorded."""


def export_bundle(db: Database, keys: SecretStore, request: ExportRequest,
                  out: str | os.PathLike,
                  progress: Callable[[int], None] | None = None,
                  export_id: str | None = None,
                  attach: Callable[[Session, int], Attachments] | None = None) -> AuditExport:
    """Write a bundle and record in the audit log who exported what, and why.

    Three transactions, so a long export never holds the write lock (on SQLite, the
    whole database's): a short one signs the checkpoint the export ends at, a read-only
    one streams the entries into the bundle, and a short one records the export and its
    audit entry together. Call it outside any open write transaction.

    A bundle that decrypted the fields of a subject whose key was destroyed while it
    was written is never recorded: it is deleted and written again (the subject's
    fields then read `[shredded]`). The recording takes the chain head's lock, as
    `destroy_subject_key` does, so either the key goes first and the recording sees it,
    or the bundle is recorded first and the erasure, which deletes recorded bundles
    after shredding, removes it.
    """
    check_request(request)
    export_id = export_id or uuid.uuid4().hex
    for attempt in range(1, EXPORT_ATTEMPTS + 1):
        with db.transaction() as session:
            integrate_all(session)  # the export holds every entry committed before it
            checkpoint = create_checkpoint(session, keys, reason="export")
        with db.transaction(write=False) as session:
            record = create_export(session, keys, request, out=out, progress=progress,
                                   checkpoint=checkpoint, save=False, export_id=export_id,
                                   attach=attach)
        try:
            with db.transaction() as session:
                session.add(record)
                append_entry(session, keys, "audit.exported", actor=request.exporter,
                             sequence=True,  # under the head's lock, as erasures shred
                             details={"export_id": record.id, "count": record.count,
                                      "tree_size": record.checkpoint_size,
                                      "reason": request.reason,
                                      "subject_filtered": record.subject_ref is not None,
                                      "action": record.action, "kind": record.kind})
                if _erased_meanwhile(session, keys, request, record):
                    raise _ErasedMeanwhile
            return record
        except _ErasedMeanwhile:
            Path(record.path).unlink(missing_ok=True)
            if attempt == EXPORT_ATTEMPTS:
                raise RuntimeError(f"subjects in the export were erased while it was written, "
                                   f"{attempt} times; request it again") from None
    raise AssertionError("unreachable")


def _erased_meanwhile(session: Session, keys: SecretStore, request: ExportRequest,
                      record: AuditExport) -> bool:
    """Whether the bundle holds decrypted fields of a subject whose key is now destroyed.

    Keys destroyed at a head seq below the bundle's checkpoint were gone before it was
    read. Of the others, a subject the bundle shows shredded is fine; one with personal
    fields in the bundle that it does not show shredded was decrypted.
    """
    size = record.checkpoint_size
    if record.kind == SUBJECT_ACCESS:
        return _subject_erased_since(session, record.subject_ref, size)
    refs = set(session.scalars(select(SubjectKey.subject_ref)
                               .where(SubjectKey.destroyed_seq >= size)))
    if not refs:
        return False
    with zipfile.ZipFile(record.path) as bundle:
        refs -= set(json.loads(bundle.read("manifest.json"))["shredded_subjects"])
    if not refs:
        return False
    return session.scalar(
        select(AuditEntry.seq).where(*_filters(keys, request, size),
                                     AuditEntry.subject_ref.in_(sorted(refs)),
                                     AuditEntry.details["personal"].is_not(None)).limit(1)
    ) is not None


def _subject_erased_since(session: Session, ref: str | None, size: int) -> bool:
    """Whether the subject of an access bundle was (or is being) erased since the tree
    of `size` entries: its key destroyed since, or an erasure of it audited since.

    An access bundle holds the person's receipts, decisions and evidence, not only their
    audit fields, so any erasure since its snapshot makes it stale: it is written again.
    """
    if ref is None:
        return False
    destroyed = session.scalar(select(SubjectKey.destroyed_seq)
                               .where(SubjectKey.subject_ref == ref))
    if destroyed is not None and destroyed >= size:
        return True
    return session.scalar(
        select(AuditEntry.seq).where(AuditEntry.subject_ref == ref, AuditEntry.seq > size,
                                     AuditEntry.action.startswith("erasure."))
        .limit(1)) is not None
