"""The fault suite (marker ``faults``): outages made on purpose, against services the tests
start themselves. Run alone with ``python3 dev.py test -m faults``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from entryfy import migrate
from entryfy.db import Database, make_engine
from models.tenancy import SYSTEM, set_context
from tests import conftest as root
from tests import factories
from tests.faults import kit


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.faults)


@pytest.fixture(autouse=True)
def _keep_limiter() -> Iterator[None]:
    with kit.keep_limiter():
        yield


@pytest.fixture
def pg_backend() -> Iterator[root.Backend]:
    """A fresh, migrated PostgreSQL database of its own (real commits, dropped afterwards)."""
    if not root.PG_URL:
        pytest.skip("ENTRYFY_TEST_PG_URL not set")
    b = root._pg_backend()
    yield b
    b.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'faults.sqlite3'}"
    migrate.upgrade(url)
    return url


def seed(url: str, admins: int = 1, workers: int = 1) -> tuple[factories.Tenant, list]:
    """A customer with an admin, a worker and a site, committed; ``admins`` - 1 more admins
    (returned), ``workers`` - 1 more workers (``tenant.extra_workers``)."""
    engine = make_engine(url)
    s: Session = Database(engine).session()
    set_context(s, SYSTEM)
    make = factories.Factory(s)
    tenant = make.tenant()
    tenant.site.ledger_id = None  # check-ins need no identity number
    s.commit()
    extra = []
    for _ in range(admins - 1):
        acc = make.account()
        extra.append((acc, make.membership(tenant.customer, acc, "admin")))
    tenant.extra_workers = []  # type: ignore[attr-defined]  # an extra the fault tests read
    for _ in range(workers - 1):
        acc = make.account()
        make.membership(tenant.customer, acc, "member")
        tenant.extra_workers.append(acc)  # type: ignore[attr-defined]  # set above
    s.close()
    engine.dispose()
    return tenant, extra


FAST_HASH = {"ARGON2_TIME_COST": "2", "ARGON2_MEMORY_COST": "19456", "ARGON2_PARALLELISM": "1"}
APP_CONFIG = {
    "SECRET_KEY": "fault-suite-secret-key",
    "ENTRYFY_DATA_KEY": root.TEST_CONFIG["ENTRYFY_DATA_KEY"],
    "ARGON2_TIME_COST": 2, "ARGON2_MEMORY_COST": 19456, "ARGON2_PARALLELISM": 1,
    "SESSION_COOKIE_SECURE": False,
    # Said outright, as in the suite's TEST_CONFIG: Flask-Limiter otherwise takes "on or off"
    # from the last app it initialised.
    "RATELIMIT_ENABLED": True,
    "WITNESS_URL": root.TEST_CONFIG["WITNESS_URL"],
}
