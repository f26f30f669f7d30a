"""Entryfy core. ``create_app`` is imported lazily so Flask-free layers (privacy/, the
operations in entryfy.ops, models/) can import ``entryfy.errors`` and friends without Flask."""

from typing import Any


def create_app(test_config: dict[str, Any] | None = None):
    from entryfy.app import create_app as _create_app

    return _create_app(test_config)


__all__ = ["create_app"]
