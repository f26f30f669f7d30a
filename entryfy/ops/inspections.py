"""Inspectors' accesses: Skatteverket's unannounced visit (kontrollbesök) compares the people
on a construction site with its personnel ledger. An admin issues a short code, read-only,
for one site's ledger over a chosen period plus who is on site at the moment of viewing;
it expires after a number of hours and can be revoked.

The code is 10 characters from a 31-letter alphabet without look-alikes (about 50 bits),
shown once and kept only as a keyed hash (HMAC-SHA256 under a key derived from the app's
data key, ``security.DataKeys.keyed_hash``, the one rule ID06 card numbers use too); with
expiry in hours and the endpoint throttled per client address, guessing is hopeless, and a
copy of the table without the key gives no code either. Codes issued before the keyed hash
(plain SHA-256) no longer match and answer 404: they live hours, so the admin issues a new
one (docs/LEDGER.md). Every use writes ``inspection.used``
plus one ``identity_number.read`` per person shown into the customer's audit trail, with
``actor_role`` "inspector" (the inspector has no account: the inspection id is the actor's
trace).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from entryfy import clock, security
from entryfy.errors import NotFound, ValidationFailed
from entryfy.ops import entries as entry_ops
from entryfy.ops import onsite
from entryfy.ops.tenant import revoke_at_site
from models import Customer, Inspection, Site
from models.tenancy import scope_to, system_scope
from privacy import audit

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"[:31]  # no I, O, 0, 1 (read aloud, typed)
CODE_LENGTH = 10
DEFAULT_HOURS = 8
MAX_HOURS = 72
MAX_PERIOD = dt.timedelta(days=366 * 2 + 1)  # the ledger's own retention


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


CODE_PURPOSE = "inspection-code"


def _code_hash(code: str) -> str:
    # Keyed (HMAC with a key derived from the app's data key, as ID06 card numbers): ~50 bits
    # of code would fall to an offline search of a stolen table without the key.
    return security.keys().keyed_hash(CODE_PURPOSE, normalise_code(code))


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return raw[:5] + "-" + raw[5:]


@dataclasses.dataclass(frozen=True)
class NewInspection:
    inspection: Inspection
    code: str  # shown once


def create_inspection(session: Session, site: Site, *, start: dt.datetime, end: dt.datetime,
                      hours: int | None = None, actor_id: uuid.UUID | None) -> NewInspection:
    hours = DEFAULT_HOURS if hours is None else hours
    errors: dict[str, list[str]] = {}
    if not 1 <= hours <= MAX_HOURS:
        errors["hours"] = [f"Between 1 and {MAX_HOURS}."]
    if start.tzinfo is None or end.tzinfo is None:
        errors["from"] = ["Give times with a time zone."]
    elif end <= start:
        errors["to"] = ["'to' must be after 'from'."]
    elif end - start > MAX_PERIOD:
        errors["to"] = ["At most two years and a day."]
    if errors:
        raise ValidationFailed(errors)
    now = clock.now()
    code = _new_code()
    inspection = Inspection(
        id=uuid.uuid4(), customer_id=site.customer_id, site_id=site.id,
        code_hash=_code_hash(code), period_from=start.astimezone(dt.UTC),
        period_to=end.astimezone(dt.UTC), expires_at=now + dt.timedelta(hours=hours),
        created_by_id=actor_id, created_at=now,
    )
    session.add(inspection)
    session.flush()
    audit.record(session, action="inspection.created", customer_id=site.customer_id,
                 actor_id=actor_id, actor_role="admin", object_type="inspection",
                 object_id=inspection.id)
    return NewInspection(inspection, code)


def revoke_inspection(session: Session, site: Site, inspection_id: uuid.UUID, *,
                      actor_id: uuid.UUID | None) -> None:
    revoke_at_site(session, Inspection, site, inspection_id, "inspection", actor_id=actor_id)


STATUSES = ("active", "expired", "revoked")


def status_of(inspection: Inspection, now: dt.datetime) -> str:
    """``revoked`` wins over ``expired``: an access revoked before it ran out was stopped."""
    if inspection.revoked_at is not None:
        return "revoked"
    return "active" if inspection.expires_at > now else "expired"


def site_inspections(site: Site, *, status: str | None, now: dt.datetime) -> Select[Any]:
    """The site's inspectors' accesses as a statement for a page (newest first, the view
    pages it), optionally only those of one ``status`` at ``now`` (as ``status_of``)."""
    stmt = select(Inspection).where(Inspection.customer_id == site.customer_id,
                                    Inspection.site_id == site.id)
    if status == "revoked":
        stmt = stmt.where(Inspection.revoked_at.is_not(None))
    elif status == "active":
        stmt = stmt.where(Inspection.revoked_at.is_(None), Inspection.expires_at > now)
    elif status == "expired":
        stmt = stmt.where(Inspection.revoked_at.is_(None), Inspection.expires_at <= now)
    return stmt


@dataclasses.dataclass
class InspectionView:
    inspection: Inspection
    site: Site
    customer: Customer
    viewed_at: dt.datetime
    # Read lazily, in batches, when iterated (once): a ledger of years streams in flat memory.
    ledger: Iterator[entry_ops.LedgerRow]
    present: list[onsite.Present]
    employer_org_nr: str | None
    contractors: list[dict[str, str | None]]


def open_inspection(session: Session, code: str, *,
                    employer_org_nr: str | None = None) -> InspectionView:
    """The ledger and the on-site list an inspector's ``code`` gives, audited. Missing,
    expired and revoked codes are all NotFound, alike. Scopes the session to the customer.

    Everything the inspector will see is audited here, before the first row is read: the use
    and every person whose identity number the ledger or the on-site list shows (the caller
    commits before streaming, as the customer's own ledger export does).
    """
    now = clock.now()
    with system_scope(session, "inspection code"):
        inspection = session.scalar(select(Inspection).where(
            Inspection.code_hash == _code_hash(code)))
    if inspection is None or inspection.revoked_at is not None or inspection.expires_at <= now:
        raise NotFound("No such inspection code, or it has expired.")
    scope_to(session, inspection.customer_id)
    site = session.scalar(select(Site).where(Site.id == inspection.site_id,
                                             Site.customer_id == inspection.customer_id))
    customer = session.get(Customer, inspection.customer_id)
    if site is None or customer is None or customer.status == "ended":
        raise NotFound("No such inspection code, or it has expired.")
    start, end = inspection.period_from, inspection.period_to
    present = onsite.on_site(session, site, with_identity=True)
    if employer_org_nr is not None:
        present = [p for p in present if p.employer_org_nr == employer_org_nr]
    # Each employer on the ledger or on site, by org nr (the builder's own people too).
    names: dict[str | None, str | None] = {}
    for org, name in [*entry_ops.ledger_employers(session, site, start, end,
                                                  employer_org_nr=employer_org_nr),
                      *((p.employer_org_nr, p.employer_name) for p in present)]:
        if names.get(org) is None:
            names[org] = name
    contractors = [{"org_nr": k, "name": v}
                   for k, v in sorted(names.items(), key=lambda kv: kv[0] or "")]
    inspection.last_used_at = now
    audit.record(session, action="inspection.used", customer_id=site.customer_id,
                 actor_role="inspector", object_type="inspection", object_id=inspection.id)
    shown = sorted(set(entry_ops.ledger_subjects(session, site, start, end,
                                                 employer_org_nr=employer_org_nr))
                   | {p.account_id for p in present if p.identity_number})
    for subject in shown:
        audit.record(session, action="identity_number.read", customer_id=site.customer_id,
                     actor_role="inspector", subject_id=subject, object_type="inspection",
                     object_id=inspection.id)
    session.flush()
    rows = entry_ops.ledger_rows(session, site, start, end, employer_org_nr=employer_org_nr)
    return InspectionView(inspection, site, customer, now, rows, present, employer_org_nr,
                          contractors)


# Retention: an access is deleted two years after it ended (registry "inspection_access").
