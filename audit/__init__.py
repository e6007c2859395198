"""The tamper-evident audit log: entries, subject keys, exports and the offline verifier.

Kept free of Flask imports at package level so `python -m audit.verify` needs only
the standard library, `cryptography` and the pure modules of `consentry`.
"""
