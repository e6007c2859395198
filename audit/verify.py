"""`python -m audit.verify BUNDLE [--public-key FILE]`: the offline bundle verifier, whose one
home is `consentry_client.bundle` (the `consentry-verify` command); kept under this name
for the service's CLI, console and scripts."""

from __future__ import annotations

import sys

from consentry_client.bundle import (  # noqa: F401
    ERASURES,
    EXIT_CANNOT_RUN,
    EXIT_DAMAGED,
    EXIT_INTACT,
    EXIT_UNPROVEN,
    EXIT_UNUSABLE,
    KINDS,
    RECEIPTS,
    SUBJECT_ACCESS,
    Finding,
    Limits,
    Report,
    Source,
    Unusable,
    format_size,
    load_public_keys,
    parse_ratio,
    parse_size,
    render,
    verify_bundle,
    verify_source,
)
from consentry_client.bundle import main as _main


def main(argv: list[str] | None = None) -> int:
    """Run the verifier as `python -m audit.verify`; return its exit code."""
    return _main(argv, prog="python -m audit.verify")


if __name__ == "__main__":
    sys.exit(main())
