"""Ending a customer (GDPR Art. 28(3)(g)): the processor returns the customer's data and then
deletes it, keeping only what a legal hold requires, and issues a deletion certificate.

1. ``start``: a platform admin ends the customer; status ``offboarding``, a grace period
   (30 days by default) in which its admins download the whole data set (privacy.export).
2. ``purge`` (``entryfy customer purge``, after the grace period): every row of every tenant
   table of the customer is deleted, children first, except rows a legal hold keeps now (the
   personnel ledger until its period ends) and the rows those need (their site). The customer
   is ``ended``.
3. A certificate (canonical JSON: per table deleted and kept counts with the rule, times, the
   SHA-256 of the last export) is stored with its own SHA-256, for the platform admin.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from typing import Any

from sqlalchemy import Table, and_, delete, func, not_, select, text
from sqlalchemy.orm import Session

from entryfy import clock, mail
from entryfy.db import rows_written
from entryfy.errors import Conflict, NotFound, Unprocessable
from models import Account, Customer, CustomerOffboarding, Membership
from models.tenancy import system_scope
from privacy import audit, datamap, erasure, export, registry

log = logging.getLogger(__name__)

GRACE_DAYS_DEFAULT = 30
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _model(table: Table) -> Any:
    return datamap._models_by_table().get(table.name)


def get(session: Session, customer_id: uuid.UUID) -> CustomerOffboarding | None:
    return session.scalar(select(CustomerOffboarding)
                          .where(CustomerOffboarding.customer_id == customer_id))


def start(session: Session, customer_id: uuid.UUID, *, actor_id: uuid.UUID,
          grace_days: int = GRACE_DAYS_DEFAULT) -> CustomerOffboarding:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.status == "ended":
        raise NotFound("No such customer.")
    if customer.status == "offboarding":
        raise Conflict("The customer is already being offboarded.", slug="already-offboarding")
    if not 0 <= grace_days <= 365:
        raise Unprocessable("The grace period is 0 to 365 days.", slug="grace-period")
    now = clock.now()
    customer.status = "offboarding"
    off = CustomerOffboarding(id=uuid.uuid4(), customer_id=customer_id, started_at=now,
                              grace_until=now + dt.timedelta(days=grace_days))
    session.add(off)
    session.flush()
    audit.record(session, action="customer.offboarding_started", customer_id=None,
                 actor_id=actor_id, actor_role="platform_admin", object_type="customer",
                 object_id=customer_id)
    with system_scope(session, "offboarding: tell the customer's admins"):
        admins = list(session.scalars(
            select(Account.email).join(Membership, Membership.account_id == Account.id)
            .where(Membership.customer_id == customer_id, Membership.role == "admin")))
    for email in admins:
        mail.send(email, "Your Entryfy contract is ending: download your data",
                  f"Your company's Entryfy service is ending. Until {off.grace_until:%Y-%m-%d}"
                  f" your admins can download all of its data at GET /api/v1/customers/"
                  f"{customer_id}/export. After that it is deleted, except personnel-ledger "
                  "records the law requires to be kept, and a deletion certificate is issued.")
    return off


def record_export(session: Session, customer_id: uuid.UUID, sha256: str, *,
                  fmt: str = "jsonl", rows: int = 0) -> None:
    """Every export is recorded (before or during offboarding): the certificate lists all."""
    from models.requests import CustomerExport

    now = clock.now()
    session.add(CustomerExport(id=uuid.uuid4(), customer_id=customer_id, exported_at=now,
                               sha256=sha256, format=fmt, rows=rows))
    off = get(session, customer_id)
    if off is not None:
        off.last_export_at = now
        off.last_export_sha256 = sha256
    session.flush()


def exports(session: Session, customer_id: uuid.UUID) -> list[dict[str, Any]]:
    from models.requests import CustomerExport

    return [{"at": _iso(e.exported_at), "sha256": e.sha256, "format": e.format, "rows": e.rows}
            for e in session.scalars(select(CustomerExport).where(
                CustomerExport.customer_id == customer_id).order_by(
                CustomerExport.exported_at, CustomerExport.id))]


def purge(session: Session, customer_id: uuid.UUID, *, force: bool = False
          ) -> dict[str, Any]:
    """Delete the customer's data, keep what a legal hold keeps, issue the certificate."""
    now = clock.now()
    with system_scope(session, "offboarding: purge one customer's data"):
        customer = session.get(Customer, customer_id)
        off = get(session, customer_id)
        if customer is None or off is None:
            raise NotFound("No offboarding for this customer.")
        if off.purged_at is not None:
            raise Conflict("Already purged.", slug="already-purged")
        if not force and now < off.grace_until:
            raise Unprocessable("The grace period has not ended.", slug="grace-period-running")
        pg = session.get_bind().dialect.name == "postgresql"
        tables: dict[str, dict[str, Any]] = {}
        kept_ids: dict[str, Any] = {}  # table -> select of kept ids (for their parents)
        for t in reversed(export.customer_tables()):
            model = _model(t)
            key = (getattr(model, "__privacy__", {}) or {}).get("retention")
            rule = _rule(key)
            mine = t.c.customer_id == customer_id
            keep_conds = []
            reason = None
            anchors = erasure.anchor_columns(t)
            if rule is not None and rule.legal_hold and anchors:
                cut = rule.cutoff(now)
                if cut is None:
                    held = mine
                else:
                    held = _or([func.coalesce(t.c[c], EPOCH) >= cut for c in anchors])
                reach = erasure.HoldScope.reach_sql(key, t)
                keep_conds.append(held if reach is None else and_(held, reach))
                reason = f"legal hold: {key}"
            # Rows that kept rows need (ON DELETE CASCADE would take the kept rows along).
            for child, ids in kept_ids.items():
                child_t = _table(child)
                for fk in child_t.foreign_keys:
                    # A composite tenant key's customer_id names the customer (``mine``),
                    # not the row: only its other column says which rows are needed.
                    if fk.column.table is t and fk.ondelete == "CASCADE" \
                            and not (fk.parent.name == "customer_id"
                                     and fk.constraint is not None
                                     and len(fk.constraint.elements) > 1):
                        keep_conds.append(t.c[fk.column.name].in_(
                            select(fk.parent).where(child_t.c.id.in_(ids))))
                        reason = reason or f"needed by rows kept in {child}"
            if keep_conds:
                keep = and_(mine, _or(keep_conds))
                n_kept = session.scalar(select(func.count()).select_from(t).where(keep)) or 0
                result = session.execute(delete(t).where(mine, not_(_or(keep_conds))))
                if n_kept and "id" in t.c:
                    kept_ids[t.name] = select(t.c.id).where(keep)
                    _restrict_kept(session, t, keep)
            else:
                n_kept = 0
                if t.name == "audit_events" and pg:
                    # The customer's whole chain goes with its data: allowed for this delete.
                    session.execute(text("SELECT set_config('entryfy.audit_prune', 'on', true)"))
                result = session.execute(delete(t).where(mine))
                if t.name == "audit_events" and pg:
                    session.execute(text("SELECT set_config('entryfy.audit_prune', '', true)"))
            tables[t.name] = {"deleted": rows_written(result), "kept": n_kept,
                              "kept_because": reason if n_kept else None}
        customer.status = "ended"
        customer.ended_at = now
        off.purged_at = now
        cert = {
            "certificate": "deletion of a customer's data (GDPR Art. 28(3)(g))",
            "processor": {"name": registry.OPERATOR.name, "org_nr": registry.OPERATOR.org_nr},
            "customer": {"id": str(customer.id), "name": customer.name,
                         "org_nr": customer.org_nr},
            "offboarding_started_at": _iso(off.started_at),
            "grace_until": _iso(off.grace_until),
            "deleted_at": _iso(now),
            "export": {"sha256": off.last_export_sha256, "at": _iso(off.last_export_at)},
            # Every export made for the customer, before or during offboarding.
            "exports": exports(session, customer_id),
            "tables": tables,
            "kept_total": sum(v["kept"] for v in tables.values()),
            "deleted_total": sum(v["deleted"] for v in tables.values()),
        }
        text_ = json.dumps(cert, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        off.certificate = text_
        off.certificate_sha256 = hashlib.sha256(text_.encode()).hexdigest()
        audit.record(session, action="customer.purged", customer_id=None,
                     actor_role="system", object_type="customer", object_id=customer_id)
        session.flush()
    log.info("customer %s purged: %d rows deleted, %d kept", customer_id,
             cert["deleted_total"], cert["kept_total"])
    return {**cert, "sha256": off.certificate_sha256}


def _or(conds: list[Any]) -> Any:
    from sqlalchemy import or_

    return or_(*conds)


def _table(name: str) -> Table:
    from models.base import Base

    return Base.metadata.tables[name]


def _restrict_kept(session: Session, t: Table, keep: Any) -> None:
    from sqlalchemy import update

    if "restricted" in t.c:
        session.execute(update(t).where(keep).values(restricted=True))


def _rule(key: str | None) -> registry.RetentionRule | None:
    try:
        return registry.retention_rule(key) if key else None
    except KeyError:
        return None


def _iso(v: dt.datetime | None) -> str | None:
    return v.astimezone(dt.UTC).isoformat() if v else None


def due(session: Session) -> list[uuid.UUID]:
    """Customers whose grace period has ended and that are not yet purged."""
    now = clock.now()
    return list(session.scalars(select(CustomerOffboarding.customer_id).where(
        CustomerOffboarding.purged_at.is_(None), CustomerOffboarding.grace_until <= now)))


def certificate(session: Session, customer_id: uuid.UUID) -> dict[str, Any]:
    off = get(session, customer_id)
    if off is None:
        raise NotFound("No offboarding for this customer.")
    return {
        "customer_id": customer_id,
        "status": "purged" if off.purged_at else "grace_period",
        "started_at": off.started_at,
        "grace_until": off.grace_until,
        "last_export_at": off.last_export_at,
        "last_export_sha256": off.last_export_sha256,
        "exports": exports(session, customer_id),
        "purged_at": off.purged_at,
        "certificate": json.loads(off.certificate) if off.certificate else None,
        "certificate_sha256": off.certificate_sha256,
    }
