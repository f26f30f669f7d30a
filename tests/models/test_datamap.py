"""Every column declares what it holds (docs/ARCHITECTURE.md, "Data map")."""

from __future__ import annotations

import models  # noqa: F401
from models.base import Base


def test_every_column_declares_its_data_category():
    missing = [
        f"{table.name}.{col.name}"
        for table in Base.metadata.sorted_tables
        for col in table.columns
        if not col.info.get("category")
    ]
    assert missing == [], f"columns without info={{'category': ...}}: {missing}"


def test_personal_columns_name_their_subject():
    missing = [
        f"{table.name}.{col.name}"
        for table in Base.metadata.sorted_tables
        for col in table.columns
        if col.info.get("category") not in (None, "none") and not col.info.get("subject")
    ]
    assert missing == []


def test_check_catches_an_undeclared_column():
    """The check above is not vacuous: a table with a bare column fails it."""
    from sqlalchemy import Column, Integer, MetaData, Table

    md = MetaData()
    t = Table("probe", md, Column("id", Integer, primary_key=True, info={"category": "none"}),
              Column("secret", Integer))
    assert [c.name for c in t.columns if not c.info.get("category")] == ["secret"]
