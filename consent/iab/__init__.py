"""IAB standard consent strings: TCF v2 TC strings (`tcf`) and GPP strings (`gpp`).

Pure standard library: decoding needs no Flask, no database and no policy. What a
decoded string means for the ledger lives in `consent/standard_signals.py`.
"""

from consent.iab.bits import DecodeError

__all__ = ["DecodeError"]
