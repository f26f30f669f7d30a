"""The data map: where each category of personal data lives, generated from the models.

Built from ``info=`` on every column and ``__privacy__`` on every model, so export, erasure and
retention walk this map instead of hand-written lists, and a new column can't be forgotten.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import models  # noqa: F401  (registers every model)
from models.base import Base


@dataclasses.dataclass(frozen=True)
class ColumnEntry:
    table: str
    column: str
    model: str
    category: str
    subject: str | None
    purpose: str | None
    retention: str | None
    erasure: str | None
    identifier: bool
    tenant: bool

    @property
    def personal(self) -> bool:
        return self.category != "none"


def _models_by_table() -> dict[str, type[Any]]:
    return {
        m.class_.__table__.name: m.class_
        for m in Base.registry.mappers
        if hasattr(m.class_, "__table__")
    }


def build() -> list[ColumnEntry]:
    by_table = _models_by_table()
    out: list[ColumnEntry] = []
    for table in Base.metadata.sorted_tables:
        model = by_table.get(table.name)
        meta: dict[str, Any] = getattr(model, "__privacy__", {}) if model else {}
        for col in table.columns:
            info = col.info
            out.append(ColumnEntry(
                table=table.name,
                column=col.name,
                model=model.__name__ if model else table.name,
                category=info.get("category", ""),
                subject=info.get("subject"),
                purpose=info.get("purpose", meta.get("purpose")),
                retention=info.get("retention", meta.get("retention")),
                erasure=info.get("erasure", meta.get("erasure")),
                identifier=bool(info.get("identifier")),
                tenant=bool(getattr(model, "__tenant__", False)),
            ))
    return out


def personal_columns() -> list[ColumnEntry]:
    return [c for c in build() if c.personal]


def subject_links() -> dict[str, list[str]]:
    """table -> the columns that reference a person (``ref()``), to find a person's rows."""
    links: dict[str, list[str]] = {}
    for c in build():
        if c.category == "reference.person":
            links.setdefault(c.table, []).append(c.column)
    return links
