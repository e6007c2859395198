"""Fixtures: every database test runs on SQLite and, when TEST_DATABASE_URL is set, PostgreSQL.

The schema always comes from the Alembic migrations (never create_all), so a wrong
migration fails the suite. Each engine gets a fresh database (PostgreSQL: a fresh
schema, dropped at the end); tables are emptied between tests.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from consentry import create_app, migrate
from consentry.db import get_db
from consentry.schema import all_metadata

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
REQUIRE_PG = os.environ.get("REQUIRE_POSTGRES") == "1"
REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"


def _pg_available() -> str | None:
    """None when PostgreSQL can be used, else why not."""
    if not PG_URL:
        return "TEST_DATABASE_URL is not set"
    try:
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means unreachable
        return f"PostgreSQL at {make_url(PG_URL).render_as_string()} unreachable: {exc}"
    return None


_PG_SKIP_REASON: list[str] = []


def _browser_missing() -> str | None:
    """None when browser tests can run (Playwright and Debian's Chromium), else why not."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    return None


def _drop_browser_tests(config, items) -> None:
    """Without Chromium: fail the run if browsers are required, else skip them in one line."""
    browser_items = [item for item in items if item.get_closest_marker("browser")]
    if not browser_items:
        return
    why = _browser_missing()
    if why is None:
        return
    if REQUIRE_BROWSER:
        pytest.exit(f"REQUIRE_BROWSER=1 but {why}", returncode=1)
    items[:] = [item for item in items if item not in browser_items]
    config.hook.pytest_deselected(items=browser_items)
    _PG_SKIP_REASON.append(f"browser tests skipped ({len(browser_items)} tests): {why}")


def pytest_collection_modifyitems(config, items):
    """Without PostgreSQL: fail the run if it is required, else drop that half with one line.
    The same for browser tests without Chromium.

    Tests marked `postgres_only` (several processes against one server) run on that half
    only, and tests marked `sqlite_only` (SQLite's own write lock) on the other.
    """
    _drop_browser_tests(config, items)
    other_engine = {"postgres_only": "sqlite", "sqlite_only": "postgres"}
    copies = [item for item in items if getattr(item, "callspec", None)
              and any(item.get_closest_marker(marker)
                      and item.callspec.params.get("database_url") == engine
                      for marker, engine in other_engine.items())]
    if copies:
        items[:] = [item for item in items if item not in copies]
        config.hook.pytest_deselected(items=copies)
    if not any(_uses_postgres(item) for item in items):
        return
    why = _pg_available()
    if why is None:
        return
    if REQUIRE_PG:
        pytest.exit(f"REQUIRE_POSTGRES=1 but {why}", returncode=1)
    dropped = [item for item in items if _uses_postgres(item)]
    items[:] = [item for item in items if not _uses_postgres(item)]
    config.hook.pytest_deselected(items=dropped)
    _PG_SKIP_REASON.append(f"PostgreSQL half skipped ({len(dropped)} tests): {why}")


def _uses_postgres(item) -> bool:
    callspec = getattr(item, "callspec", None)
    return bool(callspec) and callspec.params.get("database_url") == "postgres"


def pytest_terminal_summary(terminalreporter):
    for line in _PG_SKIP_REASON:
        terminalreporter.write_line(line, yellow=True)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(request, tmp_path_factory):
    """A migrated database URL for each engine, alive for the whole run."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "consentry.db"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        yield url
        return
    schema = f"consentry_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    url_text = url.render_as_string(hide_password=False)
    try:
        migrate.upgrade(url_text)
        yield url_text
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def secrets_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("secrets"))


def _empty_tables(app) -> None:
    engine = get_db(app).engine
    with engine.begin() as conn:
        for table in reversed(all_metadata().sorted_tables):
            conn.execute(table.delete())
        conn.execute(text("INSERT INTO audit_head (id, seq, entry_hash) "
                          "VALUES (1, 0, :h)"), {"h": "0" * 64})


@pytest.fixture
def make_app(database_url, secrets_dir):
    """Build apps on the test database; tables are emptied after the test."""
    apps = []

    def factory(**overrides):
        # Each write's audit entry (and change-feed row) is sequenced as soon as it
        # commits, so tests read the log and the feed at once; tests of the sequencer
        # itself turn this off (tests/audit/test_sequencer.py).
        config = {"DATABASE_URL": database_url, "SECRETS_DIR": secrets_dir, "TESTING": True,
                  "AUDIT_SEQUENCE_INLINE": True}
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        return app

    yield factory
    if apps:
        _empty_tables(apps[0])
    for app in apps:
        get_db(app).engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    """A read-only session for checking what the service stored (rollback() to refresh)."""
    with app.app_context(), get_db(app).read_sessions() as s:
        yield s


@pytest.fixture
def make_key(app):
    """Create an API key with the given scopes; return its Authorization header."""
    from consentry import auth

    def factory(*scopes: str, name: str | None = None) -> dict[str, str]:
        with app.app_context(), get_db(app).transaction() as s:
            key = auth.create_key(s, name or f"test-{uuid.uuid4().hex[:8]}", list(scopes))
        return {"Authorization": f"Bearer {key}"}

    return factory


@pytest.fixture
def admin(make_key):
    """Authorization header of an admin key."""
    return make_key("admin", name="test-admin")


@pytest.fixture
def live_server(app):
    """The app on a real HTTP port (for engine clients and browsers); its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser context and page (desktop width); closed after the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def shoot(page, name: str) -> list[Path]:
    """Screenshots of the page at desktop and phone widths, as test artifacts."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    paths = []
    size = page.viewport_size
    for label, width in (("desktop", 1280), ("phone", 390)):
        page.set_viewport_size({"width": width, "height": 844 if width < 600 else 900})
        path = SCREENSHOTS / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    if size:
        page.set_viewport_size(size)
    return paths


def serious_accessibility_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it stands."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
