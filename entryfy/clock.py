"""The one clock. Everything asks ``now()``; tests move it with ``frozen_at``, never sleep."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

_override: dt.datetime | None = None


def now() -> dt.datetime:
    return _override if _override is not None else dt.datetime.now(dt.UTC)


@contextlib.contextmanager
def frozen_at(moment: dt.datetime) -> Iterator[None]:
    global _override
    if moment.tzinfo is None:
        raise ValueError("frozen_at needs an aware datetime")
    previous, _override = _override, moment
    try:
        yield
    finally:
        _override = previous
