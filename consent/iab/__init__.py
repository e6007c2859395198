"""IAB standard consent strings: TCF v2 TC strings (`tcf`) and GPP strings (`gpp`).

Decoding (`bits`, `tcf`, `gpp`) is pure standard library: no Flask, database or policy.
What a decoded string means for the ledger, through the policy, is `mapping`.
"""

from consent.iab.bits import DecodeError

__all__ = ["DecodeError"]
