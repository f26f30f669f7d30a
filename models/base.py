"""Declarative base, column types and the data-map vocabulary every column must use.

No Flask here: models are used by the HTTP layer, the CLI, jobs and tests alike.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    Constraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    MetaData,
    String,
    Table,
    TypeDecorator,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

# Stable constraint names, so Alembic migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend.

    SQLite has no time zones, so values are stored naive-UTC there and tagged UTC on the way
    out; a naive datetime on the way in is refused rather than silently guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# ---------------------------------------------------------------------------------------------
# Data map vocabulary. Every column declares, in ``info=``, what it holds:
#   category: "none" for non-personal data, else a dotted data category ("contact.email" ...)
#   subject:  whose data it is ("account", "member", "guest", "staff", "contact", ...)
# privacy/datamap.py builds the map from these declarations; tests fail on a column without.
# ---------------------------------------------------------------------------------------------

NOT_PERSONAL: dict[str, Any] = {"category": "none"}


def personal(category: str, subject: str = "account", **extra: Any) -> dict[str, Any]:
    """Declare a column as personal data of ``subject`` in ``category``.

    ``extra`` may carry e.g. ``erasure="anonymise"`` or ``identifier=True`` (a value that
    identifies the person, scanned for after erasure).
    """
    if not category or category == "none":
        raise ValueError("personal() needs a real data category")
    return {"category": category, "subject": subject, **extra}


def ref(subject: str = "account") -> dict[str, Any]:
    """A reference (foreign key) to a person: links rows to their subject, holds no value itself."""
    return {"category": "reference.person", "subject": subject}


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dt.datetime: UTCDateTime(),
        uuid.UUID: Uuid(),
        str: String(255),
    }
    if TYPE_CHECKING:
        # Every model here is mapped to a Table (SQLAlchemy's hint says any FromClause), so
        # insert()/update() of ``Model.__table__`` type-check; for the type checker only.
        __table__: ClassVar[Table]


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id, info=NOT_PERSONAL)


class CreatedMixin:
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, info=NOT_PERSONAL)


class TenantMixin:
    """Rows owned by one customer (tenant).

    Queries on these models are scoped to the current tenant context automatically
    (models/tenancy.py), and on PostgreSQL row-level security enforces the same rule.
    ``__subject_column__`` names a column holding the account the row is about: that person
    may see their own rows in every tenant (their own entries, memberships, events).
    """

    __tenant__ = True
    __subject_column__: str | None = None
    # False for a table whose own composite indexes lead with customer_id: one more index on
    # that column alone would serve no query and cost every insert.
    __customer_id_index__ = True

    @declared_attr
    def customer_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(
            ForeignKey("customers.id", ondelete="CASCADE"),
            index=cls.__customer_id_index__,
            nullable=False,
            info=NOT_PERSONAL,
        )


def nulled_tenant_reference(column: str, parent: str, *, name: str
                            ) -> tuple[ForeignKeyConstraint, ForeignKeyConstraint]:
    """A reference to another tenant table that is nulled, the row kept, when the parent goes.

    PostgreSQL (and Citus, distributed by customer_id): the composite key (customer_id,
    ``column``) -> ``parent`` (customer_id, id), ON DELETE SET NULL (``column``) — a plain SET
    NULL would null customer_id too, which is NOT NULL. SQLite cannot name the columns SET
    NULL nulls, and is the embedded single-node default, never distributed: there the key
    stays ``column`` -> ``parent`` (id), ON DELETE SET NULL. Either way deleting the parent
    nulls ``column`` and keeps the row (tests/models/test_tenant_references.py). Each
    constraint is created only on its backend (``ddl_if``) and says so in ``info`` for the
    schema comparison (``only_on``).
    """
    composite = ForeignKeyConstraint(
        ["customer_id", column], [f"{parent}.customer_id", f"{parent}.id"], name=name,
        ondelete=f"SET NULL ({column})", info={"only_on": "postgresql"},
    ).ddl_if(dialect="postgresql")
    # Unnamed: the naming convention's fk_<table>_<column>_<parent>, the name it always had.
    single = ForeignKeyConstraint(
        [column], [f"{parent}.id"], ondelete="SET NULL", info={"only_on": "sqlite"},
    ).ddl_if(dialect="sqlite")
    return composite, single


def only_on(constraint: Constraint) -> str | None:
    """The one backend a constraint of the models is created on; None: every backend."""
    return constraint.info.get("only_on")


def tenant_models() -> list[type[Base]]:
    return [
        m.class_
        for m in Base.registry.mappers
        if getattr(m.class_, "__tenant__", False) and hasattr(m.class_, "__table__")
    ]
