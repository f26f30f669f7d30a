"""Test harness: every database test runs on SQLite and, when ENTRYFY_TEST_PG_URL is set, on
PostgreSQL. The schema is built by the real migrations; the app connects to PostgreSQL as a
role that owns no table (row-level security applies). Each test runs inside one outer
transaction that is rolled back; the app's commits become savepoints
(``join_transaction_mode="create_savepoint"``).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from entryfy import create_app, migrate
from entryfy.db import Database, make_engine, normalise_url
from entryfy.extensions import limiter
from models.tenancy import SYSTEM, set_context
from tests import factories

PG_URL = os.environ.get("ENTRYFY_TEST_PG_URL")
APP_LOGIN_ROLE = "entryfy_test_app"

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]

TEST_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key-not-for-production",
    "ENTRYFY_DATA_KEY": "dGVzdC1kYXRhLWtleS0wMDAwMDAwMDAwMDAwMDAwMDA=",
    # The OWASP minimum for argon2id (19 MiB, t=2, p=1): valid, and faster than production.
    "ARGON2_TIME_COST": 2,
    "ARGON2_MEMORY_COST": 19456,
    "ARGON2_PARALLELISM": 1,
    "RATELIMIT_STORAGE_URI": "memory://",
    # Said outright: Flask-Limiter otherwise takes "on or off" from the last app it initialised
    # (a browser test's server runs with throttling off).
    "RATELIMIT_ENABLED": True,
    "SESSION_COOKIE_SECURE": False,
    # Never the repository's instance folder: an app a test builds for itself publishes its
    # audit heads here unless it names a witness of its own (the suite's app gets one per
    # test: the witness_dir fixture).
    "WITNESS_URL": Path(tempfile.mkdtemp(prefix="entryfy-test-witness-")).as_uri(),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgresql: runs on the PostgreSQL backend")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if PG_URL:
        return
    skip = pytest.mark.skip(reason="ENTRYFY_TEST_PG_URL not set: PostgreSQL tests skipped")
    for item in items:
        if "postgresql" in item.keywords or "postgres_only" in item.keywords:
            item.add_marker(skip)


def test_scope_key() -> bytes:
    """The key the test app signs its row-level-security settings with (models/rls.py)."""
    from entryfy.security import DataKeys

    return bytes.fromhex(DataKeys(TEST_CONFIG["ENTRYFY_DATA_KEY"]).keyed_hash(
        "db-scope-signing", "v1"))


class Backend:
    """A migrated database: ``admin_engine`` owns the tables, ``app_engine`` is the app's."""

    def __init__(self, name: str, admin_url: str, app_url: str, drop: callable | None) -> None:
        self.name = name
        self.admin_url = admin_url
        self.app_url = app_url
        self.admin_engine: Engine = make_engine(admin_url)
        self.app_engine: Engine = make_engine(app_url)
        self._drop = drop

    def close(self) -> None:
        self.app_engine.dispose()
        self.admin_engine.dispose()
        if self._drop:
            self._drop()


def _sqlite_backend(tmp: Path) -> Backend:
    url = f"sqlite:///{tmp / 'entryfy-test.sqlite3'}"
    migrate.upgrade(url)
    return Backend("sqlite", url, url, None)


def _pg_backend() -> Backend:
    base = make_url(normalise_url(PG_URL or ""))
    name = f"entryfy_test_{uuid.uuid4().hex[:10]}"
    server = make_engine(base.render_as_string(hide_password=False))
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    server.dispose()
    admin_url = base.set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(admin_url, scope_key=test_scope_key())
    admin = make_engine(admin_url)
    with admin.begin() as c:
        c.execute(text(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
            f"'{APP_LOGIN_ROLE}') THEN CREATE ROLE {APP_LOGIN_ROLE} LOGIN NOSUPERUSER "
            "NOBYPASSRLS; END IF; END $$"
        ))
        c.execute(text(f"GRANT entryfy_app TO {APP_LOGIN_ROLE}"))
    admin.dispose()
    app_url = base.set(database=name, username=APP_LOGIN_ROLE, password=None).render_as_string(
        hide_password=False
    )

    def drop() -> None:
        srv = make_engine(base.render_as_string(hide_password=False))
        with srv.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        srv.dispose()

    return Backend("postgresql", admin_url, app_url, drop)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Backend]:
    if request.param == "sqlite":
        b = _sqlite_backend(tmp_path_factory.mktemp("sqlite"))
    else:
        b = _pg_backend()
    yield b
    b.close()


@pytest.fixture(scope="session")
def database(backend: Backend) -> Database:
    return Database(backend.app_engine)


@pytest.fixture(scope="session")
def app(database: Database, tmp_path_factory: pytest.TempPathFactory):
    outbox = tmp_path_factory.mktemp("outbox")
    application = create_app({**TEST_CONFIG, "DATABASE": database, "OUTBOX_DIR": str(outbox)})
    application.extensions[_SUITE_LIMITER] = dict(vars(limiter))
    return application


_SUITE_LIMITER = "tests.suite-limiter"


@pytest.fixture(autouse=True)
def _suite_limiter(request: pytest.FixtureRequest) -> Iterator[None]:
    """The limiter is one object per process (entryfy.extensions), and every ``create_app``
    re-points it at the app it initialises: its storage, and whether it is on at all. Tests
    that build apps of their own (a browser's server with throttling off, a Redis the test
    stops) must not hand theirs to the suite's app: a test on the suite's app gets the suite's
    limiter, emptied, and whatever was there before is put back afterwards."""
    if "app" not in request.fixturenames:
        yield
        return
    suite = request.getfixturevalue("app").extensions[_SUITE_LIMITER]
    before = dict(vars(limiter))
    vars(limiter).clear()
    vars(limiter).update(suite)
    limiter.reset()
    try:
        yield
    finally:
        vars(limiter).clear()
        vars(limiter).update(before)


@pytest.fixture(autouse=True)
def _isolated(request: pytest.FixtureRequest) -> Iterator[None]:
    """Wrap every test that uses the database in a transaction rolled back afterwards."""
    if "database" not in request.fixturenames or "committed" in request.fixturenames:
        yield
        return
    request.getfixturevalue("_suite_limiter")  # the suite's limiter first, then emptied below
    database: Database = request.getfixturevalue("database")
    connection = database.engine.connect()
    # On SQLite this sends BEGIN itself (entryfy.db turns pysqlite's lazy BEGIN off), so a
    # test whose first statement is a SAVEPOINT cannot commit for real at its RELEASE.
    outer = connection.begin()
    database.bind_to(connection)
    limiter.reset() if limiter.enabled else None
    try:
        yield
    finally:
        database.unbind()
        outer.rollback()
        connection.close()


@pytest.fixture(autouse=True)
def _suite_mailer(request: pytest.FixtureRequest) -> None:
    """Outside a request, ``mail.mailer()`` is the last app configured; other tests build
    apps of their own, so point it back at this suite's app before each test."""
    if "app" in request.fixturenames:
        from entryfy import mail

        mail.configure(request.getfixturevalue("app").extensions["entryfy.mail"])


@pytest.fixture(autouse=True)
def witness_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Path | None]:
    """Each test its own witness folder: the published audit heads of one test's (rolled
    back) chains must not meet the next test's."""
    if "app" not in request.fixturenames:
        yield None
        return
    from entryfy import witness

    app = request.getfixturevalue("app")
    folder = tmp_path_factory.mktemp("witness")
    w = witness.FileWitness(folder)
    old = app.extensions.get("entryfy.witness")
    app.extensions["entryfy.witness"] = w
    witness.configure(w)
    yield folder
    if old is not None:
        app.extensions["entryfy.witness"] = old


@pytest.fixture
def committed(database: Database, backend: Backend) -> Iterator[Database]:
    """For tests that need real commits (concurrency): tables are emptied afterwards."""
    yield database
    from models.base import Base

    with backend.admin_engine.begin() as c:
        if backend.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            c.execute(text(f"TRUNCATE {names} CASCADE"))
        else:
            for t in reversed(Base.metadata.sorted_tables):
                c.execute(t.delete())


@pytest.fixture
def session(database: Database, app) -> Iterator[Session]:
    """A system-scoped session for arranging data and checking results (not the app's)."""
    s = database.session()
    set_context(s, SYSTEM)
    yield s
    s.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make(session: Session) -> factories.Factory:
    return factories.Factory(session)


@pytest.fixture
def world(make: factories.Factory) -> factories.World:
    """Two customers, each with an admin, a worker and a site: the usual cast."""
    return make.world()
