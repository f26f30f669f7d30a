"""No index is the first columns of another index or key of its table.

Such an index serves no query (nor any foreign key's ON DELETE) that the longer one does not
serve, and every INSERT pays for it: entries had two (dropped in 0008), thirteen other
tables fourteen (0022). The rule is checked on the models (which tests/test_migrations.py
holds the databases to): a plain index whose columns begin another index, unique
constraint or primary key of the same table fails here. Partial and expression indexes are
left out: they index other rows or values than a plain one would."""

from __future__ import annotations

import models  # noqa: F401  (registers every table)
from models.base import Base


def _plain_columns(index) -> list[str] | None:
    where = (index.dialect_options["postgresql"].get("where")
             if index.dialect_options["postgresql"].get("where") is not None
             else index.dialect_options["sqlite"].get("where"))
    if where is not None or not all(hasattr(e, "table") for e in index.expressions):
        return None
    return [c.name for c in index.columns]


def _keys(table) -> list[tuple[str, list[str]]]:
    found = [(i.name, cols) for i in table.indexes if (cols := _plain_columns(i)) is not None]
    found.append((f"primary key of {table.name}", [c.name for c in table.primary_key.columns]))
    found += [(c.name, [col.name for col in c.columns]) for c in table.constraints
              if c.__class__.__name__ == "UniqueConstraint"]
    return found


def prefix_indexes() -> list[tuple[str, str]]:
    """(index, the index or key it begins) for every redundant plain non-unique index."""
    pairs = []
    for table in Base.metadata.sorted_tables:
        keys = _keys(table)
        for index in table.indexes:
            cols = _plain_columns(index)
            if cols is None or index.unique:
                continue
            longer = [name for name, other in keys
                      if len(other) > len(cols) and other[:len(cols)] == cols]
            if longer:
                pairs.append((str(index.name), str(longer[0])))
    return pairs


def test_no_index_begins_another_of_its_table():
    assert prefix_indexes() == []


def test_the_check_finds_one():
    from sqlalchemy import Index

    table = Base.metadata.tables["access_events"]
    extra = Index("ix_access_events_probe", table.c.customer_id)
    try:
        assert prefix_indexes() == [("ix_access_events_probe", "ix_access_events_customer_time")]
    finally:
        table.indexes.discard(extra)
    assert prefix_indexes() == []
