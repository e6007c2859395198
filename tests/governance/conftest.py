from tests.consent.conftest import put_consents, writer  # noqa: F401 (shared fixtures)
