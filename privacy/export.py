"""Register extract and portability (GDPR Art. 15 and 20), and a customer's whole data set
(Art. 28(3)(g)).

``person_export`` walks the data map (privacy.subjects): the account's own row and every row of
every table, in every customer, that links to the person, with, per table and per category,
the purpose, legal basis, recipients, transfers, retention and source from the processing
registry. Encrypted fields are decrypted for the person; credentials are named, not shown.

``customer_export`` streams every tenant table of one customer as JSON lines or a zip with a
manifest and SHA-256 checksums; on PostgreSQL the rows come from ``COPY ... TO STDOUT`` with
``row_to_json`` so memory stays flat and the speed is close to COPY itself.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.orm import Session

from entryfy import clock, security
from models import Account, Customer
from models.base import Base
from models.tenancy import system_scope
from privacy import registry, subjects
from privacy.subjects import TableLinks, jsonable

FORMAT = "entryfy.register-extract/1"
CREDENTIAL_CATEGORIES = {"auth.credential"}
CREDENTIAL_PLACEHOLDER = "(stored, not disclosed: a one-way hash of a secret only you know)"


def _reveal_identity_number(row: dict[str, Any], value: str) -> str:
    # The encryption context of entryfy.ops.identity (bound to the account); decrypted here
    # with the kernel's keys so privacy/ does not import the operations layer above it.
    return security.keys().decrypt(value, context=f"account:{row['id']}:identity_number")


# Encrypted columns: (table, column) -> (name shown to the person, decryptor(row, value)).
DECRYPTED: dict[tuple[str, str], tuple[str, Callable[[dict[str, Any], str], str]]] = {
    ("accounts", "identity_number_enc"): ("identity_number", _reveal_identity_number),
}

# Where each kind of data comes from (Art. 15(1)(g)), by category prefix.
SOURCES: dict[str, str] = {
    "contact": "Given by you (registration, your profile) or by a customer that invited you",
    "identity": "Given by you in your profile",
    "auth": "Set by you (password)",
    "activity": "Recorded by the service when you sign in or use it",
    "device": "Your device, when you signed in from it",
    "network": "Your device's network address, truncated when recorded",
    "employment": "The customer you work for (your employer's details), copied to entries",
    "attendance": "Your check-ins and check-outs (app, door or the customer's admins)",
    "location": "Your device at the moment of a check-in, reduced to a verdict or coarse area",
    "access": "The customer's access control (credentials it issued, door events)",
    "support": "A support case the customer opened",
    "consent": "Your own choices",
    "request": "Your data-subject requests and their answers",
    "reference": "Links between records (ids), made by the service",
}


def source_of(category: str) -> str:
    return SOURCES.get(category.split(".")[0], "Recorded by the service")


def _purpose_info(key: str | None) -> dict[str, Any]:
    if not key:
        return {"key": None}
    try:
        p = registry.purpose(key)
    except KeyError:
        return {"key": key, "title": key}
    return {
        "key": p.key,
        "title": p.title,
        "description": p.description,
        "controller_role": p.controller,
        "legal_basis": p.legal_basis,
        "legal_basis_description": registry.LEGAL_BASES[p.legal_basis],
        "legal_basis_detail": p.legal_basis_detail,
        "recipients": list(p.recipients),
        "transfers": list(p.transfers) or [p.transfers_note],
    }


def _retention_info(key: str | None) -> dict[str, Any] | None:
    if not key:
        return None
    try:
        return registry.retention_rule(key).as_dict()
    except KeyError:
        return {"key": key}


def _row_out(tl: TableLinks, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in tl.columns:
        value = row.get(c.column)
        dec = DECRYPTED.get((tl.name, c.column))
        if dec is not None:
            out[dec[0]] = dec[1](row, value) if value else None
            continue
        if c.category in CREDENTIAL_CATEGORIES:
            out[c.column] = CREDENTIAL_PLACEHOLDER if value else None
            continue
        out[c.column] = jsonable(value)
    return out


def _section(tl: TableLinks, customer: Customer | None, rows: list[dict[str, Any]]
             ) -> dict[str, Any]:
    meta = tl.privacy
    categories: dict[str, list[str]] = {}
    for c in tl.columns:
        if c.personal:
            name = DECRYPTED.get((tl.name, c.column), (c.column,))[0]
            categories.setdefault(c.category, []).append(name)
    purpose = _purpose_info(meta.get("purpose"))
    return {
        "table": tl.name,
        "controller": ({"kind": "customer", "customer_id": str(customer.id),
                        "name": customer.name, "org_nr": customer.org_nr}
                       if customer else {"kind": "vendor", "name": registry.OPERATOR.name,
                                         "org_nr": registry.OPERATOR.org_nr}),
        "purpose": purpose,
        "retention": _retention_info(meta.get("retention")),
        "categories": [
            {"category": cat, "description": registry.DATA_CATEGORIES.get(cat, cat),
             "fields": cols, "source": source_of(cat)}
            for cat, cols in categories.items()
        ],
        "rows": [_row_out(tl, r) for r in rows],
    }


def person_export(session: Session, account: Account) -> dict[str, Any]:
    """Everything held about the person, with what / why / how long / from where."""
    sections: list[dict[str, Any]] = []
    with system_scope(session, "register extract: rows linked to one person"):
        customers = {c.id: c for c in session.scalars(select(Customer))}
        for tl in subjects.person_tables():
            rows = list(subjects.rows(session, tl, account.id, account.email))
            if not rows:
                continue
            if tl.tenant or ("customer_id" in tl.table.c and tl.name != "customer_offboardings"):
                groups: dict[Any, list[dict[str, Any]]] = {}
                for r in rows:
                    groups.setdefault(r.get("customer_id"), []).append(r)
                for cid, group in groups.items():
                    sections.append(_section(tl, customers.get(cid), group))
            else:
                sections.append(_section(tl, None, rows))
    summary: dict[str, dict[str, Any]] = {}
    for s in sections:
        for cat in s["categories"]:
            entry = summary.setdefault(cat["category"], {
                "category": cat["category"], "description": cat["description"],
                "source": cat["source"], "purposes": {}, "tables": [],
            })
            p = s["purpose"]
            if p.get("key") and p["key"] not in entry["purposes"]:
                entry["purposes"][p["key"]] = {
                    "purpose": p.get("title"), "legal_basis": p.get("legal_basis_description"),
                    "recipients": p.get("recipients"), "transfers": p.get("transfers"),
                    "retention": (s["retention"] or {}).get("description"),
                }
            if s["table"] not in entry["tables"]:
                entry["tables"].append(s["table"])
    return {
        "format": FORMAT,
        "generated_at": jsonable(clock.now()),
        "subject": {"account_id": str(account.id)},
        "controller": {"name": registry.OPERATOR.name, "org_nr": registry.OPERATOR.org_nr,
                       "address": registry.OPERATOR.address, "dpo": registry.OPERATOR.dpo},
        "supervisory_authority": registry.OPERATOR.supervisory_authority,
        "rights": list(registry.RIGHTS),
        "categories": [
            {**v, "purposes": list(v["purposes"].values())} for v in summary.values()
        ],
        "sections": sections,
    }


def _csv_bytes(section: dict[str, Any]) -> bytes:
    buf = io.StringIO()
    rows = section["rows"]
    fields = list(rows[0].keys()) if rows else []
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue().encode("utf-8")


def person_export_zip(document: dict[str, Any]) -> bytes:
    """``export.json`` plus one CSV per table and controller (portability, Art. 20)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("export.json", json.dumps(document, indent=2, ensure_ascii=False))
        seen: dict[str, int] = {}
        for s in document["sections"]:
            ctrl = s["controller"]
            base = s["table"] + ("" if ctrl["kind"] == "vendor" else f"-{ctrl['org_nr']}")
            n = seen.get(base, 0)
            seen[base] = n + 1
            zf.writestr(f"{base}{'-' + str(n) if n else ''}.csv", _csv_bytes(s))
    return out.getvalue()


# ------------------------------------------------------------------ a customer's data set

def customer_tables() -> list[Table]:
    """Every table holding a customer's data: a ``customer_id`` that references customers.

    Parents before children. The vendor's own records about the customer (offboarding, the
    record of its exports) and request tombstones are not the customer's data.
    """
    out = []
    for t in Base.metadata.sorted_tables:
        if t.name in ("customer_offboardings", "customer_exports") or "customer_id" not in t.c:
            continue
        if any(fk.column.table.name == "customers" for fk in t.c.customer_id.foreign_keys):
            out.append(t)
    return out


def _member_columns() -> list[tuple[str, str]]:
    """Account fields the customer's data set carries for its people (the ledger's needs)."""
    keep = []
    for c in subjects.links("accounts").columns:
        if c.category in ("identity.name", "identity.national_id", "contact.email"):
            keep.append((c.column, DECRYPTED.get(("accounts", c.column), (c.column,))[0]))
    return keep


def _people(session: Session, customer_id: uuid.UUID) -> Iterator[dict[str, Any]]:
    from models import Membership

    acc = Base.metadata.tables["accounts"]
    ids = select(Membership.account_id).where(Membership.customer_id == customer_id,
                                              Membership.account_id.is_not(None))
    stmt = select(acc).where(acc.c.id.in_(ids)).order_by(acc.c.id)
    for row in session.execute(stmt.execution_options(yield_per=500)):
        r = dict(row._mapping)
        out: dict[str, Any] = {"id": str(r["id"])}
        for col, shown in _member_columns():
            dec = DECRYPTED.get(("accounts", col))
            value = r.get(col)
            out[shown] = dec[1](r, value) if (dec and value) else jsonable(value)
        yield out


def _sqlite_rows(session: Session, table: Table, customer_id: uuid.UUID) -> Iterator[bytes]:
    cols = list(table.c)
    stmt = select(table).where(table.c.customer_id == customer_id).order_by(*table.primary_key)
    for row in session.execute(stmt.execution_options(yield_per=2000)):
        yield json.dumps({c.name: jsonable(v) for c, v in zip(cols, row, strict=True)},
                         ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def copy_sql(table: Table, customer_id: uuid.UUID) -> str:
    """COPY takes no bind parameters: every name comes from the metadata, the id is a UUID."""
    cid = str(uuid.UUID(str(customer_id)))
    cols = ", ".join(f'"{c.name}"' for c in table.c)
    return (f"COPY (SELECT row_to_json(r) FROM (SELECT {cols} FROM \"{table.name}\" "  # noqa: S608
            f"WHERE customer_id = '{cid}'::uuid) r) TO STDOUT")


def _pg_rows(session: Session, table: Table, customer_id: uuid.UUID) -> Iterator[bytes]:
    conn = session.connection()
    conn.execute(text("SET LOCAL TimeZone = 'UTC'"))
    raw = conn.connection.driver_connection
    assert raw is not None  # a checked-out connection has its driver connection
    with raw.cursor() as cur, cur.copy(copy_sql(table, customer_id)) as copy:
        for chunk in copy:
            line = bytes(chunk)
            # COPY's text format doubles backslashes; JSON never holds a raw tab or newline.
            if b"\\" in line:
                line = line.replace(b"\\\\", b"\\")
            yield line


def table_lines(session: Session, table: Table, customer_id: uuid.UUID) -> Iterator[bytes]:
    if session.get_bind().dialect.name == "postgresql":
        return _pg_rows(session, table, customer_id)
    return _sqlite_rows(session, table, customer_id)


class _Sink:
    """A write-only file for zipfile that hands its bytes on as they come (streaming zip)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def write(self, b: bytes, /) -> int:
        self.buf += b
        return len(b)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        # Part of the writable-file protocol; zipfile never closes a file it was handed.
        pass

    def drain(self) -> bytes:
        out = bytes(self.buf)
        self.buf.clear()
        return out


CHUNK = 256 * 1024


def _batched(lines: Iterable[bytes], counter: list[int]) -> Iterator[bytes]:
    buf: list[bytes] = []
    size = 0
    for line in lines:
        counter[0] += 1
        buf.append(line)
        size += len(line)
        if size >= CHUNK:
            yield b"".join(buf)
            buf, size = [], 0
    if buf:
        yield b"".join(buf)


def customer_export(session: Session, customer_id: uuid.UUID, *, fmt: str = "jsonl",
                    on_done: Callable[[str, dict[str, int]], None] | None = None
                    ) -> Iterator[bytes]:
    """Stream one customer's whole data set. ``on_done(sha256, counts)`` runs at the end.

    jsonl: one ``{"table": ..., "row": {...}}`` per line, then ``{"manifest": ...}``.
    zip: ``<table>.jsonl`` per table, ``people.jsonl``, ``manifest.json`` with row counts and
    the SHA-256 of each file.
    """
    if fmt not in ("jsonl", "zip"):
        raise ValueError(fmt)
    digest = hashlib.sha256()
    counts: dict[str, int] = {}
    files: dict[str, str] = {}

    def sources() -> Iterator[tuple[str, Iterator[bytes]]]:
        with system_scope(session, "customer export: one customer's whole data set"):
            cust = session.get(Customer, customer_id)
            if cust is None:
                return
            yield "customer", iter([json.dumps({
                "id": str(cust.id), "name": cust.name, "org_nr": cust.org_nr,
                "address": cust.address, "status": cust.status,
                "created_at": jsonable(cust.created_at)}, ensure_ascii=False).encode() + b"\n"])
            yield "people", (json.dumps(p, ensure_ascii=False).encode() + b"\n"
                             for p in _people(session, customer_id))
            for t in customer_tables():
                yield t.name, table_lines(session, t, customer_id)

    def manifest() -> dict[str, Any]:
        return {"format": "entryfy.customer-export/1", "customer_id": str(customer_id),
                "generated_at": jsonable(clock.now()), "tables": counts,
                "sha256": files or None}

    if fmt == "jsonl":
        for name, lines in sources():
            prefix = b'{"table":"' + name.encode() + b'","row":'
            n = [0]
            for chunk in _batched((prefix + ln.rstrip(b"\n") + b"}\n" for ln in lines), n):
                digest.update(chunk)
                yield chunk
            counts[name] = n[0]
        tail = json.dumps({"manifest": manifest()}).encode() + b"\n"
        digest.update(tail)
        yield tail
    else:
        sink = _Sink()
        zf = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        for name, lines in sources():
            n = [0]
            fh = hashlib.sha256()
            with zf.open(f"{name}.jsonl", "w", force_zip64=True) as f:
                for chunk in _batched(lines, n):
                    fh.update(chunk)
                    f.write(chunk)
                    if len(sink.buf) >= CHUNK:
                        out = sink.drain()
                        digest.update(out)
                        yield out
            counts[name] = n[0]
            files[f"{name}.jsonl"] = fh.hexdigest()
        zf.writestr("manifest.json", json.dumps(manifest(), indent=2))
        zf.close()
        out = sink.drain()
        digest.update(out)
        yield out
    if on_done is not None:
        on_done(digest.hexdigest(), counts)
