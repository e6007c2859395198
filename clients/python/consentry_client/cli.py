"""`consentry-verify BUNDLE [--public-key KEYS]`: verify an audit export bundle offline.

Exit codes: 0 intact and signed by the given key, 1 damaged, 2 unusable input,
3 intact but the signer unproven (no --public-key), 4 the verifier could not run
(a bad command line, a missing dependency, a fault of its own).
"""

from __future__ import annotations

import sys

EXIT_CANNOT_RUN = 4


def main(argv: list[str] | None = None) -> int:
    """The console script: imports lazily, so a missing dependency is exit 4, not a trace."""
    try:
        from consentry_client.bundle import main as verify_main
    except ImportError as exc:
        print(f"ERROR: the verifier could not run: {exc} (pip install consentry-client)",
              file=sys.stderr)
        return EXIT_CANNOT_RUN
    return verify_main(argv)


if __name__ == "__main__":
    sys.exit(main())
