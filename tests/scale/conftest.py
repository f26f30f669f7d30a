"""The scale-out tests need Debian's pgbouncer (and haproxy, redis-server for the bench's
smoke test). Without them these tests are skipped, with the reason, unless
``ENTRYFY_REQUIRE_SCALE`` is set (``.ci/run`` installs them and sets it): then a missing
binary fails the run instead of hiding the tests."""

from __future__ import annotations

import os

import pytest

from bench import services


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = [i for i in items if "scale" in i.keywords]
    if not wanted:
        return
    missing = services.missing("pgbouncer", "haproxy", "redis-server")
    if not missing:
        return
    if os.environ.get("ENTRYFY_REQUIRE_SCALE"):
        raise pytest.UsageError(f"ENTRYFY_REQUIRE_SCALE is set but {', '.join(missing)} "
                                "is not installed (apt-get install haproxy pgbouncer)")
    skip = pytest.mark.skip(reason=f"{', '.join(missing)} not installed: scale-out tests "
                                   "skipped (apt-get install haproxy pgbouncer)")
    for item in wanted:
        item.add_marker(skip)
