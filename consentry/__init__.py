"""Consentry application core.

The package level imports nothing heavy, so pure modules (`consentry.canonical`,
`consentry.signing`) serve the offline verifier and engines without Flask.
"""


def create_app(config: dict | None = None):
    """Build the Flask app (see consentry.app.create_app)."""
    from consentry.app import create_app as _create_app

    return _create_app(config)
