"""Verify an audit export bundle offline: `consentry-verify BUNDLE [--public-key FILE]`
(also `python -m audit.verify` where the service is installed).

Needs only the standard library and `cryptography` (this package: `canonical`,
`signing`, `chain`, `merkle`): no database, no service.

Exit 0: intact, and signed by a key given with --public-key (one not taken from the
bundle). 1: damaged. 2: unusable input, or refused by a limit. 3: intact, but checked
only against the bundle's own keys.json, so the signer is unproven. 4: the verifier
could not run at all (a bad command line, a missing dependency, a fault of its own). Damage is named
per entry: modified, removed, inserted, duplicated, reordered, truncated; per file
(a member missing, unlisted, altered or stored twice under one name); and per
signature: bad signature, unknown key. A subject access bundle's receipts and erasure
certificates are checked against their own signatures as well. Entries whose subject
key was destroyed (crypto-shredding) are reported as shredded: their proofs still hold.

The zip is read within limits (see `Limits`): a member larger than the size cap, or
one that expands more than the ratio cap (a zip bomb), is refused before it is read,
and nothing larger than a JSON document may be is ever held whole in memory.

Intact bundles take a fast path that hashes each line once; only a bundle that
fails it is parsed in full to name what happened.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from consentry_client import merkle, note
from consentry_client.canonical import b64url, b64url_decode
from consentry_client.chain import checkpoint_document
from consentry_client.signing import SignatureError, keys_by_kid, verify_document

KINDS = ("modified", "removed", "inserted", "duplicated", "reordered", "truncated",
         "bad signature", "unknown key")
ENTRIES = "entries.jsonl"
# A subject access bundle (manifest `kind`): its receipts and erasure certificates are
# signed documents of their own, in these places (governance/access.py writes them).
SUBJECT_ACCESS = "subject_access"
RECEIPTS = "subject/receipts/"
ERASURES = "subject/erasures.json"
UNSIGNED_FILES = ("manifest.json", "manifest.sig")
EXIT_INTACT, EXIT_DAMAGED, EXIT_UNUSABLE, EXIT_UNPROVEN, EXIT_CANNOT_RUN = 0, 1, 2, 3, 4
_sha256 = hashlib.sha256


class Unusable(Exception):
    """The input cannot be checked at all, or a limit refused it (exit 2)."""


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """A byte count such as `1048576`, `512M` or `4G` (binary units, an optional `iB`/`B`)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match or float(match[1]) * _UNITS[match[2].upper()] < 1:
        raise ValueError(f"{text!r} is not a size such as 1048576, 512M or 4G")
    return int(float(match[1]) * _UNITS[match[2].upper()])


def format_size(n: float) -> str:
    """A byte count for people: `512 bytes`, `1.5 MiB`, `4.0 GiB`."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError


@dataclass(frozen=True)
class Limits:
    """How much of a zip the verifier will read, so a hostile bundle cannot exhaust it.

    `member_bytes` caps each member's uncompressed size (`--max-member-size`);
    `ratio` caps how many times a member of more than `RATIO_FLOOR` bytes may expand
    (`--max-compression-ratio`; the exporter's deflated entries expand about 4-5
    times, a zip bomb 200-1,000); `document_bytes` caps anything held whole in
    memory: a JSON file of the bundle, or one line of entries.jsonl.
    """

    RATIO_FLOOR = 1 << 20

    member_bytes: int = 4 << 30
    ratio: float = 100.0
    document_bytes: int = 16 << 20

    @property
    def held(self) -> int:
        """The most bytes held whole in memory at once."""
        return min(self.document_bytes, self.member_bytes)

    def check(self, name: str, size: int, compressed: int) -> None:
        """Refuse a member before reading it when it is too large or expands too much."""
        if size > self.member_bytes:
            raise Unusable(f"{name}: {format_size(size)} uncompressed is more than "
                           f"--max-member-size {format_size(self.member_bytes)}: refused "
                           f"(raise the limit if you expect a bundle this large)")
        if size > self.RATIO_FLOOR and size > self.ratio * max(compressed, 1):
            raise Unusable(f"{name}: expands {size / max(compressed, 1):,.1f} times "
                           f"({format_size(compressed)} to {format_size(size)}), more than "
                           f"--max-compression-ratio {self.ratio:g}: refused as a zip bomb")


@dataclass(frozen=True)
class Finding:
    """One piece of damage: its kind (one of KINDS), where, and what was seen."""

    kind: str
    where: str
    detail: str = ""
    seq: int | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.where}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class Report:
    """The verdict on a bundle."""

    findings: list[Finding] = field(default_factory=list)
    shredded: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    count: int = 0
    unusable: str | None = None
    signer_unproven: bool = False

    @property
    def exit_code(self) -> int:
        if self.unusable:
            return EXIT_UNUSABLE
        if self.findings:
            return EXIT_DAMAGED
        return EXIT_UNPROVEN if self.signer_unproven else EXIT_INTACT

    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}

    def add(self, kind: str, where: str, detail: str = "", seq: int | None = None) -> None:
        assert kind in KINDS, kind
        self.findings.append(Finding(kind, where, detail, seq))


# --- where the files come from ------------------------------------------------------------

class Source:
    """The files of a bundle: a zip on disk or, in tests, a dict of name → bytes.

    Every member is checked against the limits before it is opened.
    """

    def __init__(self, files: dict[str, bytes] | None = None, zip_path: str | None = None,
                 limits: Limits = Limits()):
        self._files = files
        self._zip = None
        self.limits = limits
        if zip_path is not None:
            try:
                self._zip = zipfile.ZipFile(zip_path)
            except (OSError, zipfile.BadZipFile) as exc:
                raise Unusable(f"{zip_path}: not a readable zip bundle ({exc})") from exc

    def names(self) -> list[str]:
        """Every member's name, as often as the zip holds it (folders too: none belongs)."""
        if self._zip is not None:
            return [i.filename for i in self._zip.infolist()]
        return list(self._files or {})

    def open(self, name: str):
        try:
            if self._zip is None:
                data = self._files[name]
                self.limits.check(name, len(data), len(data))
                return io.BytesIO(data)
            info = self._zip.getinfo(name)  # of several of one name, the last: see duplicates
        except KeyError:
            raise FileNotFoundError(name) from None
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise Unusable(f"{name}: compression method {info.compress_type}; a bundle's "
                           f"members are stored or deflated")
        if info.flag_bits & 0x1:
            raise Unusable(f"{name}: encrypted; a bundle's members are not")
        self.limits.check(name, info.file_size, info.compress_size)
        return self._zip.open(info)

    def read(self, name: str) -> bytes:
        """A member held whole in memory: no more than `limits.held` bytes."""
        limit = self.limits.held
        with self.open(name) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise Unusable(f"{name}: more than {format_size(limit)}, the most a bundle's JSON file "
                           f"may hold: refused")
        return data

    def sha256(self, name: str) -> str:
        sha = _sha256()
        with self.open(name) as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                sha.update(block)
        return sha.hexdigest()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


# --- keys ---------------------------------------------------------------------------------

class _AnyKid(dict):
    """One PEM key, with no key id of its own: it answers for any key id."""

    def __init__(self, key: Ed25519PublicKey):
        super().__init__()
        self.key = key

    def get(self, _kid, default=None):
        return self.key


def load_public_keys(path: str) -> dict:
    """Load published keys: a JWKS (as /.well-known/consentry-keys), one JWK, or a PEM."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise Unusable(f"cannot read public key file {path}: {exc}") from exc
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = load_pem_public_key(data)
            if not isinstance(key, Ed25519PublicKey):
                raise Unusable(f"{path}: not an Ed25519 public key")
            return _AnyKid(key)
        doc = json.loads(data)
        return keys_by_kid(doc if "keys" in doc else [doc])
    except (ValueError, KeyError, TypeError, SignatureError) as exc:
        raise Unusable(f"{path}: not a JWKS, JWK or PEM public key ({exc})") from exc


def _check_signature(report: Report, keys: dict, document, signature, where: str) -> bool:
    if not isinstance(signature, dict) or not isinstance(document, dict):
        report.add("bad signature", where, "signature missing or malformed")
        return False
    if keys.get(signature.get("kid")) is None:
        report.add("unknown key", where, f"key id {signature.get('kid')!r} is not published")
        return False
    try:
        value = signature.get("value")
        if not isinstance(value, str) or b64url(b64url_decode(value)) != value:
            raise SignatureError("signature is not canonical base64url")
        verify_document(keys, document, signature)
    except (SignatureError, ValueError) as exc:
        report.add("bad signature", where, str(exc))
        return False
    return True


def _json(source: Source, name: str):
    try:
        return json.loads(source.read(name))
    except FileNotFoundError:
        return None
    except ValueError:
        return ValueError


def _checkpoint(report: Report, keys: dict, statement, where: str) -> dict | None:
    """Check a checkpoint statement's signature; return its document if it is well formed."""
    if not isinstance(statement, dict) or not isinstance(statement.get("checkpoint"), dict):
        report.add("modified", where, "not a checkpoint statement")
        return None
    doc = statement["checkpoint"]
    try:
        canonical = checkpoint_document(int(doc["tree_size"]), str(doc["root_hash"]),
                                        str(doc["ts"]))
    except (KeyError, TypeError, ValueError):
        report.add("modified", where, "checkpoint fields missing")
        return None
    if canonical != doc:
        report.add("modified", where, "unexpected checkpoint fields")
    _check_signature(report, keys, doc, statement.get("signature"), where)
    return doc


# --- entries ------------------------------------------------------------------------------

@dataclass
class _Record:
    """One line of entries.jsonl as the diagnosis needs it (not its bytes: memory)."""

    line: int
    digest: str
    seq: int | None
    prev: str | None
    parsed: bool


def _read_lines(f, limit: int) -> Iterator[tuple[bytes | None, str, bool]]:
    """Each line of a stream without its newline: its bytes (None when longer than `limit`:
    such a line is hashed in pieces, never held), its SHA-256, and whether it ended."""
    pending: list[bytes] = []  # the start of the line being read
    size = 0
    sha = None  # set once that line is too long to hold
    while block := f.read(1 << 20):
        *complete, tail = block.split(b"\n")
        for raw in complete:
            if sha is not None or size + len(raw) > limit:
                if sha is None:
                    sha = _sha256(b"".join(pending))
                sha.update(raw)
                yield None, sha.hexdigest(), True
            else:
                if pending:
                    raw = b"".join(pending) + raw
                yield raw, _sha256(raw).hexdigest(), True
            pending, size, sha = [], 0, None
        if tail:
            if sha is None and size + len(tail) > limit:
                sha = _sha256(b"".join(pending))
                pending, size = [], 0
            if sha is not None:
                sha.update(tail)
            else:
                pending.append(tail)
                size += len(tail)
    if sha is not None:
        yield None, sha.hexdigest(), False
    elif pending:
        raw = b"".join(pending)
        yield raw, _sha256(raw).hexdigest(), False


def _lines(source: Source) -> Iterator[tuple[bytes | None, str, bool]]:
    with source.open(ENTRIES) as f:
        yield from _read_lines(f, source.limits.held)


def _proofs(source: Source, report: Report) -> dict[int, list[bytes]]:
    proofs: dict[int, list[bytes]] = {}
    try:
        with source.open("inclusion.jsonl") as f:
            for raw, _digest, _ended in _read_lines(f, source.limits.held):
                if raw is None:
                    raise ValueError("a line longer than a proof can be")
                item = json.loads(raw)
                proofs[int(item["seq"])] = [bytes.fromhex(h) for h in item["proof"]]
    except FileNotFoundError:
        report.add("removed", "inclusion.jsonl", "the inclusion proofs are missing")
    except (ValueError, KeyError, TypeError):
        report.add("modified", "inclusion.jsonl", "unreadable inclusion proofs")
    return proofs


def _fast_check(source: Source, manifest: dict, proofs: dict[int, list[bytes]],
                shredded_refs: set[str], report: Report) -> bool:
    """Hash each line once and follow the chain; True when everything holds."""
    file_sha = _sha256()
    intact = _fast_lines(source, manifest, proofs, shredded_refs, report, file_sha)
    return intact and file_sha.hexdigest() == manifest["files"].get(ENTRIES)


def _fast_lines(source: Source, manifest: dict, proofs: dict[int, list[bytes]],
                shredded_refs: set[str], report: Report, file_sha) -> bool:
    rng = manifest["range"]
    filtered = manifest.get("filter") is not None
    size, root = int(manifest["tree_size"]), bytes.fromhex(manifest["root_hash"])
    expected_seqs = sorted(proofs) if filtered else []
    prev = (rng.get("first_prev_hash") or "").encode()
    seq = rng.get("first_seq")
    count = 0
    digest = ""
    rest = b""
    limit = source.limits.held
    with source.open(ENTRIES) as f:
        while block := f.read(1 << 20):  # whole blocks: zipfile's readline costs more than SHA
            file_sha.update(block)
            data = rest + block
            lines = data.split(b"\n")
            rest = lines.pop()
            if len(rest) > limit:  # no entry is this long: let the diagnosis hash it in pieces
                return False
            if filtered:
                for raw in lines:
                    digest = _sha256(raw).hexdigest()
                    if count >= len(expected_seqs):
                        return False
                    seq = expected_seqs[count]
                    if b'"seq":%d,' % seq not in raw or not merkle.verify_inclusion(
                            seq - 1, size, merkle.leaf_hash(bytes.fromhex(digest)), proofs[seq],
                            root):
                        return False
                    count += 1
            else:
                for raw in lines:
                    # keys are sorted, so the entry's own prev_hash is followed by its seq
                    if b'"prev_hash":"%s","seq":%d,' % (prev, seq) not in raw:
                        return False
                    prev = _sha256(raw).hexdigest().encode()
                    seq += 1
                count += len(lines)
                digest = prev.decode()
            if b'"personal":' in data:
                for raw in lines:
                    if b'"personal":' in raw:
                        _note_shredded(raw, shredded_refs, report)
    if rest or count != manifest["count"]:  # a last line without its newline was cut short
        return False
    report.count = count
    if filtered or count == 0:
        return count == len(proofs)
    last = rng["last_seq"]
    if digest != rng.get("last_entry_hash") or last not in proofs:
        return False
    return merkle.verify_inclusion(last - 1, size, merkle.leaf_hash(bytes.fromhex(digest)),
                                   proofs[last], root)


def _prefix_root(source: Source, size: int) -> bytes:
    """The Merkle root of the first `size` entries of a bundle that starts at seq 1."""
    frontier = merkle.Frontier()
    rest = b""
    with source.open(ENTRIES) as f:
        while frontier.size < size and (block := f.read(1 << 20)):
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            for raw in lines[:size - frontier.size]:
                frontier.append(merkle.leaf_hash(_sha256(raw).digest()))
    return frontier.root()


def _note_shredded(raw: bytes, shredded_refs: set[str], report: Report) -> None:
    try:
        doc = json.loads(raw)
        personal = doc["details"]["personal"]
    except (ValueError, KeyError, TypeError):
        return
    if isinstance(personal, dict) and (personal.get("shredded")
                                       or doc.get("subject_ref") in shredded_refs):
        report.shredded.append(doc["seq"])


def _parse(source: Source) -> tuple[list[_Record], bool]:
    """Every line as a record; also whether the last line was cut short."""
    records: list[_Record] = []
    cut = False
    for number, (raw, digest, ended) in enumerate(_lines(source), 1):
        if not ended:
            cut = True
        try:
            doc = json.loads(raw) if raw is not None else None
            parsed = isinstance(doc, dict)
        except ValueError:
            doc, parsed = None, False
        seq = doc.get("seq") if parsed else None
        prev = doc.get("prev_hash") if parsed else None
        records.append(_Record(number, digest, seq if type(seq) is int else None,
                               prev if isinstance(prev, str) else None, parsed))
    return records, cut


def _runs(seqs: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted seqs, as (first, last)."""
    runs: list[tuple[int, int]] = []
    for s in seqs:
        if runs and runs[-1][1] == s - 1:
            runs[-1] = (runs[-1][0], s)
        else:
            runs.append((s, s))
    return runs


def _diagnose(source: Source, manifest: dict, proofs: dict[int, list[bytes]],
              report: Report) -> None:
    """Name each piece of damage in entries.jsonl (the bundle failed the fast path)."""
    rng = manifest["range"]
    filtered = manifest.get("filter") is not None
    size, root = int(manifest["tree_size"]), bytes.fromhex(manifest["root_hash"])
    if filtered:
        expected = sorted(proofs)
    elif rng.get("first_seq") is None:
        expected = []
    else:
        expected = list(range(rng["first_seq"], rng["last_seq"] + 1))
    position = {s: i for i, s in enumerate(expected)}
    records, cut = _parse(source)
    if cut:
        last = records[-1]
        report.add("truncated", f"line {last.line}", "the file ends inside an entry")
        if last.seq is None or not last.parsed:
            records.pop()
    by_seq: dict[int, list[_Record]] = {}
    for r in records:
        if r.seq is not None:
            by_seq.setdefault(r.seq, []).append(r)

    def good(r: _Record) -> bool:
        """The record is the authentic entry for its seq."""
        s = r.seq
        if s not in position:
            return False
        if filtered:
            return merkle.verify_inclusion(s - 1, size, merkle.leaf_hash(bytes.fromhex(r.digest)),
                                           proofs[s], root)
        i = position[s]
        if i == len(expected) - 1:
            return r.digest == rng.get("last_entry_hash")
        after = by_seq.get(expected[i + 1])
        if after:
            return any(a.prev == r.digest for a in after)
        # the next entry is missing too: fall back on the link backwards
        before = by_seq.get(expected[i - 1], []) if i else []
        links = {b.digest for b in before} | ({rng.get("first_prev_hash")} if i == 0 else set())
        return r.prev in links

    fitting = {s: [r for r in candidates if good(r)] for s, candidates in by_seq.items()}
    accepted = {s: fits[0] for s, fits in fitting.items() if len(fits) == 1}

    def placement(s: int, r: _Record) -> tuple[int, int]:
        """Prefer the copy that sits between its neighbours, then the one nearest its place."""
        i = position[s]
        before = accepted.get(expected[i - 1]) if i else None
        after = accepted.get(expected[i + 1]) if i + 1 < len(expected) else None
        between = ((before is None or before.line < r.line)
                   and (after is None or r.line < after.line))
        return (0 if between else 1, abs(r.line - 1 - i))

    for s, fits in fitting.items():
        if len(fits) > 1:  # identical copies: one is the entry, the rest duplicates
            accepted[s] = min(fits, key=lambda r, s=s: placement(s, r))
    accepted_ids = {id(r) for r in accepted.values()}
    authentic = {r.digest: r for r in accepted.values()}  # same hash: same bytes

    # Walk the file: accepted records separate segments of unexplained lines and gaps.
    unexplained: list[_Record] = []
    prev_index = -1
    order_broken: _Record | None = None

    def close_segment(upto: int, trailing: bool) -> None:
        missing = [expected[i] for i in range(prev_index + 1, upto) if expected[i] not in accepted]
        extras = []
        for r in unexplained:
            original = authentic.get(r.digest)
            if original is not None:
                report.add("duplicated", f"entry seq {original.seq}",
                           f"line {r.line} repeats line {original.line}", original.seq)
            else:
                extras.append(r)
        if missing and len(extras) == len(missing):
            for s, r in zip(missing, extras, strict=True):
                report.add("modified", f"entry seq {s}", f"line {r.line}", s)
            return
        for first, last in _runs(missing):  # one finding per run: a cut log is one finding
            span = f"entry seq {first}" if first == last else f"entries seq {first}-{last}"
            if trailing:
                report.add("truncated", span, "missing from the end", first)
            else:
                report.add("removed", span, "", first)
        for r in extras:
            report.add("inserted", f"line {r.line}",
                       f"seq {r.seq}" if r.seq is not None else "not an entry", r.seq)

    for r in records:
        if id(r) not in accepted_ids:
            unexplained.append(r)
            continue
        index = position[r.seq]
        if index < prev_index:
            order_broken = order_broken or r
            continue
        close_segment(index, trailing=False)
        unexplained = []
        prev_index = index
    close_segment(len(expected), trailing=True)
    if order_broken is not None:
        report.add("reordered", f"entry seq {order_broken.seq}",
                   f"line {order_broken.line} comes after a later entry", order_broken.seq)
    report.count = len(records)


# --- the bundle ---------------------------------------------------------------------------

def verify_source(source: Source, public_keys: dict | None = None,
                  previous_checkpoint: dict | None = None) -> Report:
    """Check every signature, hash and proof of a bundle; name what is wrong.

    Without `public_keys` the signatures are checked against the bundle's own keys.json:
    that proves the bundle hangs together, not who made it (the report's signer is
    unproven, exit 3).
    """
    report = Report()
    names = source.names()
    for name, copies in sorted(Counter(names).items()):
        if copies > 1:  # readers differ on which copy they show: only one was verified
            report.add("duplicated", name, f"the zip holds {copies} members of this name")
    manifest = _json(source, "manifest.json")
    if manifest is None or manifest is ValueError or not isinstance(manifest, dict):
        raise Unusable("manifest.json is missing or not JSON: not an audit export bundle")
    try:
        int(manifest["tree_size"])
        bytes.fromhex(manifest["root_hash"])
        rng = manifest["range"]
        files = dict(manifest["files"])
        int(manifest["count"])
        if not isinstance(rng, dict):
            raise TypeError("range")
    except (KeyError, TypeError, ValueError) as exc:
        report.add("modified", "manifest.json", f"field {exc} missing or malformed")
        return report
    if public_keys is None:
        bundled = _json(source, "keys.json")
        try:
            public_keys = keys_by_kid(bundled)
        except (AttributeError, KeyError, TypeError, ValueError, SignatureError):
            public_keys = {}
        report.signer_unproven = True
        report.notes.append("the signer is unproven: signatures were checked only against "
                            "keys.json inside the bundle, which whoever made the bundle chose; "
                            "pass --public-key with the keys published at "
                            "/.well-known/consentry-keys (saved JWKS or PEM) to prove who "
                            "signed it")
    signature = _json(source, "manifest.sig")
    _check_signature(report, public_keys, manifest,
                     signature if isinstance(signature, dict) else None, "manifest.json")

    # Every file is the one the signed manifest names.
    present = set(names)
    for name, digest in files.items():
        if name not in present:
            report.add("removed", name, "file listed in the manifest is missing")
        elif name != ENTRIES and source.sha256(name) != digest:
            report.add("modified", name, "SHA-256 differs from the manifest")
    for name in sorted(present - set(files) - set(UNSIGNED_FILES)):
        report.add("inserted", name, "file not listed in the manifest")

    if manifest.get("kind") == SUBJECT_ACCESS:
        _signed_documents(source, report, public_keys, manifest, files, present)

    checkpoint = _checkpoint(report, public_keys, _json(source, "checkpoint.json"),
                             "checkpoint.json")
    if checkpoint is not None and (checkpoint["tree_size"] != int(manifest["tree_size"])
                                   or checkpoint["root_hash"] != manifest["root_hash"]):
        report.add("modified", "checkpoint.json", "tree head differs from the manifest")
    _notes(source, report, public_keys, manifest, files, present)
    prefix = _consistency(source, report, public_keys, manifest, previous_checkpoint)

    if ENTRIES not in present:
        if ENTRIES not in files:
            report.add("removed", ENTRIES, "the entries are missing")
        return report
    shredded_refs = set(manifest.get("shredded_subjects") or [])
    proofs = _proofs(source, report)
    before = len(report.findings)
    try:
        intact = _fast_check(source, manifest, proofs, shredded_refs, report)
    except (KeyError, TypeError, ValueError):
        intact = False
    if intact and prefix is not None:
        size, old_root = prefix
        if _prefix_root(source, size) == old_root:
            report.notes.append(f"consistent with the checkpoint of tree size {size} "
                                f"(recomputed from the entries)")
        else:
            report.add("modified", "previous checkpoint",
                       f"the log's first {size} entries do not hash to its root: "
                       f"history rewritten")
    if not intact:
        report.shredded.clear()
        _diagnose(source, manifest, proofs, report)
        if len(report.findings) == before:
            report.add("modified", ENTRIES, "SHA-256 or proofs differ from the manifest")
    return report


def _signed_documents(source: Source, report: Report, keys: dict, manifest: dict,
                      files: dict, present: set[str]) -> None:
    """A subject access bundle: check each receipt's and erasure certificate's own
    signature too, as the person (or anyone they show them to) would one by one."""
    receipts = certificates = 0
    for name in sorted(files):
        if not name.startswith(RECEIPTS) or name not in present:
            continue
        receipt = _json(source, name)
        if not isinstance(receipt, dict):
            report.add("modified", name, "not a receipt")
            continue
        body = {k: v for k, v in receipt.items() if k != "signature"}
        receipts += _check_signature(report, keys, body, receipt.get("signature"), name)
    erasures = _json(source, ERASURES) if ERASURES in present else []
    if not isinstance(erasures, list):
        report.add("modified", ERASURES, "not a list of erasures")
        erasures = []
    for erasure in erasures:
        certificate = erasure.get("certificate") if isinstance(erasure, dict) else None
        if certificate is None:
            continue
        where = f"{ERASURES} erasure {erasure.get('erasure_id')}"
        if not isinstance(certificate, dict):
            report.add("modified", where, "certificate malformed")
            continue
        certificates += _check_signature(report, keys, certificate.get("document"),
                                         certificate.get("signature"), where)
    subject = manifest.get("subject_access") or {}
    report.notes.append(f"subject access bundle of subject {subject.get('subject_id')!r}: "
                        f"{receipts} receipt(s) and {certificates} erasure certificate(s) "
                        f"carry their own valid signature")


def _notes(source: Source, report: Report, keys: dict, manifest: dict, files: dict,
           present: set[str]) -> None:
    """Check the C2SP signed notes of the checkpoints (when the manifest lists them): signed
    by a given key under the manifest's log origin, and for the tree heads of the JSON."""
    if isinstance(keys, _AnyKid):
        publics = [keys.key]
    else:
        publics = [k for k in keys.values() if isinstance(k, Ed25519PublicKey)]
    origin = manifest.get("log_origin")
    heads = {"checkpoint.note": (int(manifest["tree_size"]), manifest["root_hash"])}
    previous = _json(source, "previous_checkpoint.json")
    if isinstance(previous, dict) and isinstance(previous.get("checkpoint"), dict):
        doc = previous["checkpoint"]
        heads["previous_checkpoint.note"] = (doc.get("tree_size"), doc.get("root_hash"))
    for name, (size, root) in heads.items():
        if name not in files or name not in present:
            continue  # listed and missing is reported with the files; unlisted: older bundle
        try:
            data = source.read(name).decode("utf-8")
            text, _ = note.split_note(data)
            note_origin, note_size, note_root = note.parse_checkpoint(text)
        except (UnicodeDecodeError, note.NoteError) as exc:
            report.add("modified", name, f"not a C2SP checkpoint note ({exc})")
            continue
        if origin is not None and note_origin != origin:
            report.add("modified", name, f"origin {note_origin!r} is not the log's {origin!r}")
        if (note_size, note_root.hex()) != (size, root):
            report.add("modified", name, "tree head differs from the signed checkpoint")
        try:
            note.verify_note(data, [(note_origin, note.raw_public_key(k)) for k in publics])
        except note.NoteError as exc:
            kind = "unknown key" if "no signature by a known key" in str(exc) else \
                "bad signature"
            report.add(kind, name, str(exc))


def _consistency(source: Source, report: Report, keys: dict, manifest: dict,
                 previous: dict | None) -> tuple[int, bytes] | None:
    """Check that this tree extends the previous checkpoint (the bundle's, or the caller's).

    When the caller's checkpoint is not the one the bundle has a proof from, but the
    bundle holds the whole log from its first entry, return (size, root) for the entries
    pass to recompute that prefix's root instead.
    """
    proof_doc = _json(source, "consistency.json")
    bundled = _json(source, "previous_checkpoint.json")
    if previous is None and bundled is None:
        if proof_doc is not None:
            report.add("removed", "previous_checkpoint.json", "consistency proof without it")
        return None
    where = "previous checkpoint" if previous is not None else "previous_checkpoint.json"
    old = _checkpoint(report, keys, previous if previous is not None else bundled, where)
    if old is None:
        return None
    size, root = int(manifest["tree_size"]), manifest["root_hash"]
    if old["tree_size"] == size:
        if old["root_hash"] != root:
            report.add("modified", where, "same tree size, different root: history rewritten")
        return None
    proof_fits = isinstance(proof_doc, dict) and proof_doc.get("from_size") == old["tree_size"]
    if previous is not None and not proof_fits:
        rng = manifest["range"]
        if (manifest.get("filter") is None and rng.get("first_seq") == 1
                and old["tree_size"] <= (rng.get("last_seq") or 0)):
            return old["tree_size"], bytes.fromhex(old["root_hash"])
        raise Unusable(f"this bundle proves consistency from tree size "
                       f"{proof_doc.get('from_size') if isinstance(proof_doc, dict) else None}"
                       f" and does not hold the log's first {old['tree_size']} entries to "
                       f"check your checkpoint")
    if not isinstance(proof_doc, dict):
        report.add("removed", "consistency.json", "the consistency proof is missing")
        return None
    if not proof_fits:
        report.add("modified", "consistency.json", "proof is not from the previous checkpoint")
        return None
    try:
        ok = merkle.verify_consistency(old["tree_size"], size, bytes.fromhex(old["root_hash"]),
                                       bytes.fromhex(root),
                                       [bytes.fromhex(h) for h in proof_doc["proof"]])
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        report.add("modified", "consistency.json",
                   f"tree {size} does not extend tree {old['tree_size']}: history rewritten")
    else:
        report.notes.append(f"consistent with the checkpoint of tree size {old['tree_size']}")
    return None


def verify_bundle(path: str, public_keys: dict | None = None,
                  previous_checkpoint: dict | None = None, limits: Limits = Limits()) -> Report:
    """Verify the bundle at `path`; unusable or refused input gives a report with `unusable`."""
    try:
        source = Source(zip_path=path, limits=limits)
    except Unusable as exc:
        return Report(unusable=str(exc))
    try:
        return verify_source(source, public_keys, previous_checkpoint)
    except Unusable as exc:
        return Report(unusable=str(exc))
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        return Report(unusable=f"{path}: damaged zip ({exc})")
    finally:
        source.close()


def render(report: Report, limit: int = 50) -> str:
    """The report as text for people: verdict last."""
    out = [f"note: {n}" for n in report.notes]
    if report.shredded:
        seqs = ", ".join(str(s) for s in report.shredded[:limit])
        more = f" and {len(report.shredded) - limit} more" if len(report.shredded) > limit else ""
        out.append(f"shredded: {len(report.shredded)} entries whose subject key was destroyed "
                   f"(personal fields unreadable, proofs intact): seq {seqs}{more}")
    for finding in report.findings[:limit]:
        out.append(str(finding))
    if len(report.findings) > limit:
        out.append(f"... and {len(report.findings) - limit} more findings")
    if report.unusable:
        out.append(f"UNUSABLE: {report.unusable}")
    elif report.findings:
        out.append(f"TAMPERED: {len(report.findings)} finding(s)")
    elif report.signer_unproven:
        out.append(f"SIGNER UNPROVEN: {report.count} entries intact, but the signer is "
                   f"unproven (no --public-key)")
    else:
        out.append(f"INTACT: {report.count} entries verified")
    return "\n".join(out)


EXIT_CODES = """exit codes:
  0  intact, and signed by a key given with --public-key (not taken from the bundle)
  1  damaged: each finding names the entry or file and the kind of damage
  2  unusable input, or refused by --max-member-size / --max-compression-ratio
  3  intact, but the signer is unproven: no --public-key was given, so the
     signatures were checked only against the bundle's own keys.json
  4  the verifier could not run: a bad command line, a missing dependency
     (cryptography) or a fault of the verifier itself; nothing was judged"""


class _Parser(argparse.ArgumentParser):
    """A bad command line exits 4 (could not run), never 2 (which judges the input)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_CANNOT_RUN, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None, prog: str = "consentry-verify") -> int:
    """Run the verifier on a command line; return its exit code."""
    try:
        return _main(argv, prog)
    except SystemExit:
        raise
    except Exception as exc:  # a fault of the verifier: say so, never a verdict
        print(f"ERROR: the verifier could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN


def _main(argv: list[str] | None, prog: str) -> int:
    parser = _Parser(prog=prog,
                                     description="Verify a Consentry audit export bundle offline.",
                                     epilog=EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle")
    parser.add_argument("--public-key",
                        help="the published keys: the JWKS saved from "
                             "/.well-known/consentry-keys, one JWK, or a PEM public key")
    parser.add_argument("--previous-checkpoint",
                        help="checkpoint.json of an earlier bundle this one must extend")
    parser.add_argument("--max-member-size", type=_arg(parse_size), metavar="SIZE",
                        default=Limits.member_bytes,
                        help=f"refuse a member larger than this uncompressed (default "
                             f"{format_size(Limits.member_bytes)}; e.g. 512M, 16G)")
    parser.add_argument("--max-compression-ratio", type=_arg(parse_ratio), metavar="N",
                        default=Limits.ratio,
                        help=f"refuse a member of more than {format_size(Limits.RATIO_FLOOR)} that "
                             f"expands more than N times (default {Limits.ratio:g})")
    args = parser.parse_args(argv)
    limits = Limits(member_bytes=args.max_member_size, ratio=args.max_compression_ratio)
    try:
        keys = load_public_keys(args.public_key) if args.public_key else None
        previous = None
        if args.previous_checkpoint:
            try:
                previous = json.loads(Path(args.previous_checkpoint).read_bytes())
            except (OSError, ValueError) as exc:
                raise Unusable(f"cannot read {args.previous_checkpoint}: {exc}") from exc
    except Unusable as exc:
        print(f"UNUSABLE: {exc}")
        return 2
    report = verify_bundle(args.bundle, keys, previous, limits)
    print(render(report))
    return report.exit_code


def parse_ratio(text: str) -> float:
    """A compression ratio cap: a number of at least 1."""
    value = float(text)
    if not value >= 1:
        raise ValueError(f"{text!r} is not a ratio of at least 1")
    return value


def _arg(parse):
    def convert(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return convert


if __name__ == "__main__":
    sys.exit(main())
