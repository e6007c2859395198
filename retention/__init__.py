"""Retention classes, targets, runs, legal holds and erasure."""
