"""The Merkle tree against RFC 9162's definitions, re-implemented naively here."""

from __future__ import annotations

import hashlib
import random

import pytest

from audit import merkle


def H(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(entries: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 §2.1.1, over raw leaf inputs."""
    n = len(entries)
    if n == 0:
        return H(b"")
    if n == 1:
        return H(b"\x00" + entries[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return H(b"\x01" + mth(entries[:k]) + mth(entries[k:]))


def path(m: int, entries: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) from §2.1.3.1."""
    n = len(entries)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return path(m, entries[:k]) + [mth(entries[k:])]
    return path(m - k, entries[k:]) + [mth(entries[:k])]


def proof(m: int, entries: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) from §2.1.4.1."""

    def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
        n = len(d)
        if m == n:
            return [] if b else [mth(d)]
        k = 1
        while k * 2 < n:
            k *= 2
        if m <= k:
            return subproof(m, d[:k], b) + [mth(d[k:])]
        return subproof(m - k, d[k:], False) + [mth(d[:k])]

    return subproof(m, entries, True)


# The leaves and roots used by Certificate Transparency's reference implementations.
CT_LEAVES = [bytes.fromhex(x) for x in ["", "00", "10", "2021", "3031", "40414243",
                                          "5051525354555657",
                                          "606162636465666768696a6b6c6d6e6f"]]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def leaves_of(entries):
    return [merkle.leaf_hash(e) for e in entries]


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_certificate_transparency_vectors(size):
    leaves = leaves_of(CT_LEAVES[:size])
    assert merkle.root(leaves).hex() == CT_ROOTS[size - 1]
    assert mth(CT_LEAVES[:size]).hex() == CT_ROOTS[size - 1]


def test_empty_tree_is_hash_of_nothing():
    assert merkle.root([]) == H(b"")
    assert merkle.Frontier().root() == H(b"")


def test_frontier_root_equals_tree_root_at_every_size():
    entries = [i.to_bytes(4, "big") for i in range(70)]
    frontier = merkle.Frontier()
    for n, e in enumerate(entries, 1):
        frontier.append(merkle.leaf_hash(e))
        assert frontier.root() == mth(entries[:n])
        restored = merkle.Frontier(frontier.size, frontier.hashes)
        assert restored.root() == frontier.root()


def test_inclusion_proofs_match_naive_paths_and_verify():
    entries = [bytes([i]) * (i % 5 + 1) for i in range(40)]
    for n in range(1, 41):
        leaves = merkle.LeafArray(b"".join(leaves_of(entries[:n])))
        head = mth(entries[:n])
        batch = merkle.inclusion_proofs(leaves, range(n))
        for m in range(n):
            expected = path(m, entries[:n])
            assert merkle.inclusion_proof(leaves, m) == expected
            assert batch[m] == expected
            assert merkle.verify_inclusion(m, n, leaves[m], expected, head)


def test_consistency_proofs_match_naive_proofs_and_verify():
    entries = [i.to_bytes(2, "big") for i in range(33)]
    for n in range(1, 34):
        leaves = leaves_of(entries[:n])
        for m in range(1, n + 1):
            expected = proof(m, entries[:n])
            assert merkle.consistency_proof(leaves, m) == expected
            assert merkle.verify_consistency(m, n, mth(entries[:m]), mth(entries[:n]), expected)


def test_wrong_proofs_are_rejected():
    rng = random.Random(7)
    entries = [rng.randbytes(8) for _ in range(25)]
    leaves = leaves_of(entries)
    head = mth(entries)
    for m in range(25):
        p = path(m, entries)
        assert not merkle.verify_inclusion(m, 25, H(b"other"), p, head)
        if p:
            assert not merkle.verify_inclusion(m, 25, leaves[m], p[:-1], head)
            assert not merkle.verify_inclusion(m, 25, leaves[m], p + [p[0]], head)
            bad = list(p)
            bad[rng.randrange(len(bad))] = H(b"x")
            assert not merkle.verify_inclusion(m, 25, leaves[m], bad, head)
        if m != 24:
            assert not merkle.verify_inclusion((m + 1) % 25, 25, leaves[m], p, head) or \
                leaves[m] == leaves[(m + 1) % 25]
    for m in range(1, 25):
        p = proof(m, entries)
        assert not merkle.verify_consistency(m, 25, H(b"old"), head, p)
        assert not merkle.verify_consistency(m, 25, mth(entries[:m]), H(b"new"), p)
        if p:
            assert not merkle.verify_consistency(m, 25, mth(entries[:m]), head, p[:-1])
    assert not merkle.verify_inclusion(5, 3, leaves[0], [], head)


def test_large_trees_match_the_definition():
    entries = [i.to_bytes(3, "big") for i in range(300)]
    leaves = merkle.LeafArray(b"".join(leaves_of(entries)))
    for n in (64, 128, 200, 256, 300):
        assert merkle.root(leaves[:n]) == mth(entries[:n])
        assert merkle.root(leaves_of(entries[:n])) == mth(entries[:n])
    for m in (1, 63, 64, 65, 199):
        assert merkle.inclusion_proof(leaves, m) == path(m, entries)
        assert merkle.consistency_proof(leaves, m) == proof(m, entries)


def test_trees_larger_than_a_hashing_chunk_match_the_definition():
    entries = [i.to_bytes(3, "big") for i in range(9000)]
    leaves = merkle.LeafArray(b"".join(leaves_of(entries)))
    assert merkle.root(leaves) == mth(entries)
    assert merkle.root(leaves[:8192]) == mth(entries[:8192])
    assert merkle.inclusion_proof(leaves, 8999) == path(8999, entries)
