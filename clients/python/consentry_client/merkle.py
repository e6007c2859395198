"""Merkle tree of the audit log as in Certificate Transparency (RFC 9162 §2.1).

Pure standard library, shared by the service and the offline verifier. A leaf's input
is the entry hash (32 bytes), which already commits to the entry's canonical JSON, so
the tree can be built from the stored hashes without re-encoding entries.

Leaves are passed as a sequence of 32-byte leaf hashes (`leaf_hash(data)`); a
`bytes`/`bytearray` of concatenated hashes works too through `LeafArray`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 ‖ data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class LeafArray(Sequence):
    """Leaf hashes packed 32 bytes apiece: a million leaves take 32 MB, not 100."""

    def __init__(self, packed: bytes | bytearray = b""):
        self.packed = bytearray(packed)

    def append(self, leaf: bytes) -> None:
        self.packed += leaf

    def __len__(self) -> int:
        return len(self.packed) // 32

    def __getitem__(self, i):
        if isinstance(i, slice):
            start, stop, _ = i.indices(len(self))
            return LeafArray(self.packed[start * 32:stop * 32])
        if i < 0:
            i += len(self)
        return bytes(self.packed[i * 32:i * 32 + 32])


def subtree_root(leaves: Sequence[bytes], lo: int = 0, hi: int | None = None) -> bytes:
    """MTH(D[lo:hi]) over leaf hashes; the empty tree hashes to SHA-256 of nothing."""
    hi = len(leaves) if hi is None else hi
    n = hi - lo
    if n == 0:
        return _sha256(b"").digest()
    if n == 1:
        return leaves[lo]
    if n >= 64 and n & (n - 1) == 0:  # a perfect subtree: hash level by level, no recursion
        chunk = min(n, _CHUNK)
        return _perfect_root([_perfect_root(_leaf_list(leaves, start, start + chunk))
                              for start in range(lo, hi, chunk)])
    k = _split(n)
    return node_hash(subtree_root(leaves, lo, lo + k), subtree_root(leaves, lo + k, hi))


_CHUNK = 4096  # perfect subtrees are hashed this many leaves at a time: memory stays small


def _leaf_list(leaves: Sequence[bytes], lo: int, hi: int) -> list[bytes]:
    if isinstance(leaves, LeafArray):
        packed = leaves.packed
        return [bytes(packed[i:i + 32]) for i in range(lo * 32, hi * 32, 32)]
    return list(leaves[lo:hi])


def _perfect_root(level: list[bytes]) -> bytes:
    """The root of a perfect tree (a power-of-two number of nodes), level by level."""
    while len(level) > 1:
        level = [_sha256(b"\x01" + level[i] + level[i + 1]).digest()
                 for i in range(0, len(level), 2)]
    return level[0]


def root(leaves: Sequence[bytes]) -> bytes:
    """The tree head of all `leaves`."""
    return subtree_root(leaves)


class Frontier:
    """The compact range of a growing tree: O(log n) subtree roots, enough for its head."""

    def __init__(self, size: int = 0, hashes: list[bytes] | None = None):
        self.size = size
        self.hashes = list(hashes or [])
        if len(self.hashes) != bin(size).count("1"):
            raise ValueError("a frontier holds one hash per set bit of its size")

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash."""
        self.hashes.append(leaf)
        size = self.size
        while size & 1:  # merge equal-sized perfect subtrees, as a binary counter carries
            right = self.hashes.pop()
            self.hashes[-1] = node_hash(self.hashes[-1], right)
            size >>= 1
        self.size += 1

    def root(self) -> bytes:
        """The tree head of every leaf appended so far."""
        if not self.hashes:
            return _sha256(b"").digest()
        acc = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            acc = node_hash(h, acc)
        return acc


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int | None = None) -> list[bytes]:
    """The audit path of leaf `index` in the tree of the first `size` leaves (RFC 9162 §2.1.3)."""
    size = len(leaves) if size is None else size
    if not 0 <= index < size:
        raise ValueError("index outside the tree")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(subtree_root(leaves, lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree_root(leaves, lo, lo + k))
            lo = lo + k
    path.reverse()
    return path


def inclusion_proofs(leaves: Sequence[bytes], indices: Sequence[int],
                     size: int | None = None) -> dict[int, list[bytes]]:
    """Audit paths of many leaves in one pass over the tree: O(size), not O(size × count)."""
    size = len(leaves) if size is None else size
    wanted = sorted(set(indices))
    if wanted and not (0 <= wanted[0] and wanted[-1] < size):
        raise ValueError("index outside the tree")
    paths: dict[int, list[bytes]] = {i: [] for i in wanted}

    def walk(lo: int, hi: int, targets: list[int]) -> bytes:
        if not targets:
            return subtree_root(leaves, lo, hi)
        if hi - lo == 1:
            return leaves[lo]
        k = lo + _split(hi - lo)
        left_targets = [t for t in targets if t < k]
        right_targets = [t for t in targets if t >= k]
        left = walk(lo, k, left_targets)
        right = walk(k, hi, right_targets)
        for t in left_targets:
            paths[t].append(right)
        for t in right_targets:
            paths[t].append(left)
        return node_hash(left, right)

    if size:
        walk(0, size, wanted)
    return paths


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by `leaf` at `index` and its audit path (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        raise ValueError("index outside the tree")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes],
                     expected_root: bytes) -> bool:
    """True when `proof` shows `leaf` at `index` in the tree of `size` with `expected_root`."""
    try:
        return root_from_inclusion(index, size, leaf, proof) == expected_root
    except ValueError:
        return False


def consistency_proof(leaves: Sequence[bytes], old_size: int,
                      new_size: int | None = None) -> list[bytes]:
    """The proof that the tree of `old_size` is a prefix of the tree of `new_size` (§2.1.4)."""
    new_size = len(leaves) if new_size is None else new_size
    if not 0 < old_size <= new_size:
        raise ValueError("need 0 < old_size <= new_size")

    def subproof(m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if complete else [subtree_root(leaves, lo, hi)]
        k = _split(n)
        if m <= k:
            return subproof(m, lo, lo + k, complete) + [subtree_root(leaves, lo + k, hi)]
        return subproof(m - k, lo + k, hi, False) + [subtree_root(leaves, lo, lo + k)]

    return subproof(old_size, 0, new_size, True)


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """True when `proof` shows the old tree is a prefix of the new one (RFC 9162 §2.1.4.2)."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    proof = list(proof)
    if not proof:
        return False
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node
        proof = [old_root] + proof
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
