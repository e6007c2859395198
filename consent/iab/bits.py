"""What TCF and GPP strings share: base64url text read as bits, fixed and Fibonacci
integers, and the one error a malformed string raises."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_BITS = {c: format(i, "06b") for i, c in enumerate(_ALPHABET)}


class DecodeError(ValueError):
    """A string that is not a well-formed TC or GPP string; the message says where."""


def bit_string(text: str, what: str) -> str:
    """The bits of base64url `text` (no padding) as '0'/'1', naming `what` when it is not."""
    if not text:
        raise DecodeError(f"{what} is empty.")
    try:
        return "".join([_BITS[char] for char in text])
    except KeyError:
        i, char = next((i, c) for i, c in enumerate(text) if c not in _BITS)
        raise DecodeError(f"{what} has {char!r} at position {i + 1}, which is not a "
                          f"base64url character (A-Z, a-z, 0-9, '-', '_').") from None


class BitReader:
    """Reads big-endian fields from the bits of one base64url segment."""

    def __init__(self, text: str, what: str):
        self.what = what
        self._bits = bit_string(text, what)
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self._bits) - self.pos

    def _take(self, count: int, field: str) -> str:
        if count > self.remaining:
            raise DecodeError(f"{self.what} ends before its {field} field "
                              f"(needs {count} more bits, has {self.remaining}).")
        bits = self._bits[self.pos:self.pos + count]
        self.pos += count
        return bits

    def int(self, count: int, field: str) -> int:
        """The next `count` bits as an unsigned integer."""
        return int(self._take(count, field), 2)

    def bool(self, field: str) -> bool:
        return self._take(1, field) == "1"

    def bitfield(self, count: int, field: str) -> frozenset[int]:
        """The 1-based positions of the set bits among the next `count`."""
        bits = self._take(count, field)
        return frozenset(i + 1 for i, bit in enumerate(bits) if bit == "1")

    def letters(self, count: int, field: str) -> str:
        """`count` letters of 6 bits each, A=0 … Z=25."""
        out = []
        for _ in range(count):
            value = self.int(6, field)
            if value > 25:
                raise DecodeError(f"{self.what}: {field} holds {value}, which is not a "
                                  f"letter (0-25).")
            out.append(chr(ord("A") + value))
        return "".join(out)

    def fibonacci(self, field: str, limit: int = 32) -> int:
        """A Fibonacci-coded positive integer (Zeckendorf, least significant first,
        ended by `11`); at most `limit` bits long."""
        value, previous, fib_a, fib_b = 0, "0", 1, 2
        for _ in range(limit + 1):
            bit = self._take(1, field)
            if bit == "1" and previous == "1":
                return value
            if bit == "1":
                value += fib_a
            previous = bit
            fib_a, fib_b = fib_b, fib_a + fib_b
        raise DecodeError(f"{self.what}: {field} is not a Fibonacci-coded integer of at "
                          f"most {limit} bits.")


class IdSet:
    """A set of positive ids held as sorted, disjoint, inclusive ranges, so a range
    encoding of 65,535 ids costs one pair rather than 65,535 entries."""

    __slots__ = ("_starts", "_ends")

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()):
        merged: list[list[int]] = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self._starts = [s for s, _ in merged]
        self._ends = [e for _, e in merged]

    @classmethod
    def of(cls, ids: Iterable[int]) -> IdSet:
        return cls((i, i) for i in ids)

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, int):
            return False
        i = bisect_right(self._starts, item) - 1
        return i >= 0 and item <= self._ends[i]

    def __iter__(self) -> Iterator[int]:
        for start, end in zip(self._starts, self._ends, strict=True):
            yield from range(start, end + 1)

    def __len__(self) -> int:
        return sum(e - s + 1 for s, e in zip(self._starts, self._ends, strict=True))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IdSet):
            return self._starts == other._starts and self._ends == other._ends
        return NotImplemented

    def __hash__(self) -> int:
        return hash((tuple(self._starts), tuple(self._ends)))

    def __repr__(self) -> str:
        return f"IdSet({list(zip(self._starts, self._ends, strict=True))!r})"

    @property
    def max(self) -> int:
        return self._ends[-1] if self._ends else 0
