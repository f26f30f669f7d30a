"""The data map: where each category of personal data lives, generated from the models.

Built from ``info=`` on every column and ``__privacy__`` on every model, so export, erasure and
retention walk this map instead of hand-written lists, and a new column can't be forgotten.
Each personal column resolves to a purpose and a retention rule of the registry
(privacy/registry.py) and an erasure strategy; ``problems()`` lists every disagreement between
the models and the registry (the tests require it to be empty).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import models  # noqa: F401  (registers every model)
from models.base import Base
from privacy import registry

# What happens to a column's value when its person is erased (or its row retired).
ERASURE_STRATEGIES: dict[str, str] = {
    "delete": "deleted (with its row, or the value cleared)",
    "anonymise": "the link to the person is removed; the rest is kept without it",
    "legal_hold": "kept, restricted to the legal purpose, until the legal period ends; "
                  "deleted then",
    "keep": "kept until its own retention period ends (records of how a request or the "
            "trail was handled; references only)",
}


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
        return self.category not in ("none", "")

    def as_dict(self) -> dict[str, Any]:
        """The column with what the registry says about its purpose and retention."""
        out: dict[str, Any] = dataclasses.asdict(self)
        try:
            p = registry.purpose(self.purpose or "")
            out.update(controller=p.controller, legal_basis=p.legal_basis)
        except KeyError:
            out.update(controller=None, legal_basis=None)
        try:
            r = registry.retention_rule(self.retention or "")
            out.update(retention_period=r.period.iso() if r.period else None,
                       retention_anchor=r.anchor, legal_hold=r.legal_hold)
        except KeyError:
            out.update(retention_period=None, retention_anchor=None, legal_hold=False)
        return out


def _models_by_table() -> dict[str, type[Any]]:
    return {
        m.class_.__table__.name: m.class_
        for m in Base.registry.mappers
        if hasattr(m.class_, "__table__")
    }


def _erasure(info: dict[str, Any], meta: dict[str, Any], retention: str | None,
             personal: bool) -> str | None:
    if not personal:
        return None
    explicit = info.get("erasure", meta.get("erasure"))
    if explicit:
        return str(explicit)
    try:
        if retention and registry.retention_rule(retention).legal_hold:
            return "legal_hold"
    except KeyError:
        pass
    return "delete"


def build() -> list[ColumnEntry]:
    by_table = _models_by_table()
    out: list[ColumnEntry] = []
    for table in Base.metadata.sorted_tables:
        model = by_table.get(table.name)
        meta: dict[str, Any] = getattr(model, "__privacy__", {}) if model else {}
        for col in table.columns:
            info = col.info
            category = info.get("category", "")
            retention = info.get("retention", meta.get("retention"))
            out.append(ColumnEntry(
                table=table.name,
                column=col.name,
                model=model.__name__ if model else table.name,
                category=category,
                subject=info.get("subject"),
                purpose=info.get("purpose", meta.get("purpose")),
                retention=retention,
                erasure=_erasure(info, meta, retention, category not in ("none", "")),
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


def used_purposes() -> set[str]:
    return {c.purpose for c in build() if c.purpose}


def problems(entries: list[ColumnEntry] | None = None) -> list[str]:
    """Every disagreement between the data map and the registry; empty when they agree.

    A personal column must name a purpose and a retention rule the registry declares, the
    rule must be one that purpose names, its category and subject must be among the purpose's,
    and its erasure strategy must be a known one. Every purpose stored in this system must be
    used by some column.
    """
    entries = build() if entries is None else entries
    out: list[str] = []
    for c in entries:
        where = f"{c.table}.{c.column}"
        if not c.category:
            out.append(f"{where}: no data category declared (info=)")
            continue
        if not c.personal:
            continue
        if not c.subject:
            out.append(f"{where}: personal data without a subject")
        if not c.purpose:
            out.append(f"{where}: personal data without a purpose")
        if not c.retention:
            out.append(f"{where}: personal data without a retention rule")
        if c.erasure not in ERASURE_STRATEGIES:
            out.append(f"{where}: unknown erasure strategy {c.erasure!r}")
        try:
            rule = registry.retention_rule(c.retention or "")
        except KeyError:
            if c.retention:
                out.append(f"{where}: retention rule {c.retention!r} is not in the registry")
            rule = None
        try:
            p = registry.purpose(c.purpose or "")
        except KeyError:
            if c.purpose:
                out.append(f"{where}: purpose {c.purpose!r} is not in the registry")
            continue
        if rule and rule.key not in p.retention_keys:
            out.append(f"{where}: retention {rule.key!r} is not one purpose {p.key!r} declares")
        if c.category not in p.data_categories:
            out.append(f"{where}: category {c.category!r} is not declared for purpose {p.key!r}")
        if c.subject and c.subject not in p.data_subjects:
            out.append(f"{where}: subject {c.subject!r} is not declared for purpose {p.key!r}")
        if not p.stored_in_system:
            out.append(f"{where}: purpose {p.key!r} is marked as not stored in this system")
    # A purpose is realised here when some table serves it (its columns name it), personal
    # columns or not: e.g. the customer record itself holds no personal data.
    used = {c.purpose for c in entries if c.purpose}
    for p in registry.purposes():
        if p.stored_in_system and p.key not in used:
            out.append(f"purpose {p.key!r} is declared as stored here but no column uses it")
    return out


def render_text(entries: list[ColumnEntry] | None = None, *, all_columns: bool = False) -> str:
    """A plain table for the terminal: one line per (personal) column."""
    entries = build() if entries is None else entries
    rows = [c.as_dict() for c in entries if all_columns or c.personal]
    cols = ["table", "column", "subject", "category", "purpose", "legal_basis", "retention",
            "retention_period", "erasure"]
    cells = [[str(r.get(k) if r.get(k) is not None else "-") for k in cols] for r in rows]
    widths = [max([len(k), *(len(row[i]) for row in cells)]) for i, k in enumerate(cols)]
    lines = ["  ".join(k.ljust(w) for k, w in zip(cols, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
              for row in cells]
    return "\n".join(lines)
