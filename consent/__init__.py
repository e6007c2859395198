"""Consent ledger, policy, signal gate, decisions and explanations."""
