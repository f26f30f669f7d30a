"""Customers (tenants) and their memberships: plain functions that flush, never commit.

The caller scopes the session: the HTTP layer to the customer it checked the admin's role in,
the CLI to the system scope. Every lookup here still names the customer explicitly, because a
person's *own* memberships are visible in every tenant (models/tenancy.py) and an id from one
customer must never reach a row of another.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from entryfy import clock
from entryfy.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from entryfy.ops import accounts as account_ops
from entryfy.ops import invitations
from entryfy.ops.identity import luhn_ok
from entryfy.ops.tenant import load_owned
from models import Customer, Membership
from models.tenancy import system_scope
from models.vocab import MEMBER_ROLES, Role
from privacy import audit

# Roles an admin may give through the members API: every role but guest (guests are made by
# the guests endpoint); models.vocab.Role is the one list.
ASSIGNABLE_ROLES = tuple(r for r in MEMBER_ROLES if r != Role.GUEST)
MEMBER_FIELDS = ("role", "active", "employer_name", "employer_org_nr", "valid_from", "valid_to")


# ------------------------------------------------------------------ organisation numbers

def normalise_org_nr(value: str, *, field: str = "org_nr", legal_entity: bool = True) -> str:
    """A Swedish organisation number as ``NNNNNN-NNNN``, or ValidationFailed.

    Accepts ``NNNNNNNNNN``, ``NNNNNN-NNNN`` and the 12-digit form with the ``16`` century
    prefix Skatteverket uses. A legal entity (aktiebolag, förening, ...) has a third digit of
    at least 2; ``legal_entity=False`` also accepts a sole trader, whose number is the owner's
    personnummer (an employer in the personnel ledger may be one).
    """
    raw = value.strip()
    if not re.fullmatch(r"(16)?[0-9]{6}-?[0-9]{4}", raw):  # ASCII only: \d is Unicode
        raise ValidationFailed({field: ["Use 10 digits, e.g. 556677-8899."]})
    digits = raw.replace("-", "")
    if len(digits) == 12:
        digits = digits[2:]
    if not luhn_ok(digits):
        raise ValidationFailed({field: ["The check digit is wrong."]})
    if legal_entity and int(digits[2]) < 2:
        raise ValidationFailed({field: ["Not an organisation number of a legal entity "
                                        "(the third digit must be 2 or more)."]})
    return f"{digits[:6]}-{digits[6:]}"


# ------------------------------------------------------------------ customers

def create_customer(session: Session, *, name: str, org_nr: str, admin_email: str,
                    address: str | None = None,
                    actor_id: uuid.UUID | None = None) -> tuple[Customer, Membership]:
    """A new customer and its first admin's invitation to ``admin_email``, which binds when
    the person, signed in with that proven address, accepts it."""
    name = name.strip()
    if not name:
        raise ValidationFailed({"name": ["Give the company's name."]})
    if any(ch < " " or ch == "\x7f" for ch in name):
        # The name goes into mail subjects: a line break there would end the header.
        raise ValidationFailed({"name": ["One line, without control characters."]})
    org_nr = normalise_org_nr(org_nr)
    role = "platform_admin" if actor_id else "cli"
    # A brand-new tenant: no tenant context can cover it yet (nor the check that the company
    # has no customer already, which must see every customer).
    with system_scope(session, "create a customer and its first admin"):
        if session.scalar(select(Customer.id).where(Customer.org_nr == org_nr)) is not None:
            # The platform admin needs to know: one company, one customer.
            raise Conflict("A customer with this organisation number exists.",
                           slug="org-nr-taken")
        customer = Customer(name=name, org_nr=org_nr,
                            address=address.strip() if address and address.strip() else None)
        _insert(session, customer, Conflict("A customer with this organisation number "
                                            "exists.", slug="org-nr-taken"))
        admin = _new_membership(session, customer.id, email=admin_email, role="admin")
        audit.record(session, action="customer.created", customer_id=None, actor_id=actor_id,
                     actor_role=role, object_type="customer", object_id=customer.id)
        audit.record(session, action="member.added", customer_id=customer.id,
                     actor_id=actor_id, actor_role=role, object_type="membership",
                     object_id=admin.id, subject_id=admin.account_id)
    return customer, admin


def get_customer(session: Session, customer_id: uuid.UUID) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.status == "ended":
        raise NotFound("No such customer.")
    return customer


# ------------------------------------------------------------------ memberships

def _is_acting_admin(m: Membership, now: dt.datetime,
                     changes: Mapping[str, Any] | None = None) -> bool:
    """An admin who can sign in and act at ``now`` (a pending invitation cannot), as the
    membership is or as it would be after ``changes``."""
    v = {k: getattr(m, k) for k in ("role", "active", "valid_from", "valid_to")}
    v.update({k: changes[k] for k in v if changes and k in changes})
    return (v["role"] == "admin" and m.account_id is not None
            and Membership.standing(v["active"], v["valid_from"], v["valid_to"], now) is None)


def _new_membership(session: Session, customer_id: uuid.UUID, *, email: str, role: str,
                    **fields: Any) -> Membership:
    email = account_ops.normalise_email(email)
    # The HTTP schemas check the address properly; this keeps the CLI from inviting nonsense.
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 254 or any(c.isspace() for c in email):
        raise ValidationFailed({"email": ["Not a valid email address."]})
    # Always an invitation, whether or not the address has an account: it binds only when
    # that person accepts it (entryfy.ops.invitations), and the answer tells nothing.
    account = account_ops.find_by_email(session, email)
    same = [func.lower(Membership.invited_email) == email]
    if account is not None:
        same.append(Membership.account_id == account.id)
    taken = select(Membership.id).where(Membership.customer_id == customer_id, or_(*same))
    m = Membership(customer_id=customer_id, invited_email=email, role=role, **fields)
    if session.scalar(taken) is not None:
        raise Conflict("This person is already a member or invited.", slug="already-member")
    _check_period(m)
    _insert(session, m, Conflict("This person is already a member or invited.",
                                 slug="already-member"))
    customer = session.get(Customer, customer_id)
    invitations.send_invitation(customer.name if customer else "", email, role)
    return m


def _insert(session: Session, obj: object, conflict: Conflict) -> None:
    """Add and flush in a savepoint: a concurrent request that inserted the same unique value
    first makes this a 409, not a failed transaction (the checks above only see committed
    rows)."""
    try:
        with session.begin_nested():
            session.add(obj)
            session.flush()
    except IntegrityError:
        raise conflict from None


def _check_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if "role" in out and out["role"] not in ASSIGNABLE_ROLES:
        raise ValidationFailed({"role": [f"One of: {', '.join(ASSIGNABLE_ROLES)}."]})
    if out.get("employer_org_nr"):
        out["employer_org_nr"] = normalise_org_nr(out["employer_org_nr"],
                                                  field="employer_org_nr", legal_entity=False)
    if "employer_name" in out and out["employer_name"] is not None:
        out["employer_name"] = out["employer_name"].strip() or None
    return out


def _check_period(m: Membership) -> None:
    if m.valid_from is not None and m.valid_to is not None and m.valid_from >= m.valid_to:
        raise ValidationFailed({"valid_to": ["Must be after valid_from."]})


def add_member(session: Session, customer_id: uuid.UUID, *, email: str, role: str = "member",
               actor_id: uuid.UUID | None = None, **fields: Any) -> Membership:
    fields = _check_fields({"role": role, **fields})
    unknown = set(fields) - set(MEMBER_FIELDS)
    if unknown:
        raise ValidationFailed({k: ["Unknown field."] for k in sorted(unknown)})
    m = _new_membership(session, customer_id, email=email, **fields)
    from entryfy.ops import events

    events.emit(session, customer_id, "member.created",
                {"id": m.id, "role": m.role, "pending": m.account_id is None})
    audit.record(session, action="member.added", customer_id=customer_id, actor_id=actor_id,
                 actor_role="admin", object_type="membership", object_id=m.id,
                 subject_id=m.account_id)
    return m


def get_member(session: Session, customer_id: uuid.UUID, member_id: uuid.UUID) -> Membership:
    return load_owned(session, Membership, customer_id, member_id, "member")


def _other_acting_admins(session: Session, m: Membership, now: dt.datetime) -> int:
    rows = session.scalars(
        select(Membership)
        .where(Membership.customer_id == m.customer_id, Membership.role == "admin",
               Membership.id != m.id)
        # Lock the admins' rows (PostgreSQL): two admins demoting each other at the same time
        # are serialised, and the second sees that the first is no longer an admin.
        .with_for_update()
    )
    return sum(1 for other in rows if _is_acting_admin(other, now))


def _keep_an_admin(session: Session, m: Membership, *, after: Mapping[str, Any] | None) -> None:
    """Refuse a change that leaves the customer without an admin who can act."""
    now = clock.now()
    if not _is_acting_admin(m, now):
        return
    if after is not None and _is_acting_admin(m, now, after):
        return
    if _other_acting_admins(session, m, now) == 0:
        raise Unprocessable("The customer's last active admin cannot be removed, demoted or "
                            "deactivated; make someone else admin first.", slug="last-admin")


def update_member(session: Session, m: Membership, changes: Mapping[str, Any], *,
                  actor_id: uuid.UUID | None = None) -> Membership:
    changes = _check_fields(changes)
    unknown = set(changes) - set(MEMBER_FIELDS)
    if unknown:
        raise ValidationFailed({k: ["Unknown field."] for k in sorted(unknown)})
    _keep_an_admin(session, m, after=changes)
    for key, value in changes.items():
        setattr(m, key, value)
    _check_period(m)
    session.flush()
    audit.record(session, action="member.changed", customer_id=m.customer_id, actor_id=actor_id,
                 actor_role="admin", object_type="membership", object_id=m.id,
                 subject_id=m.account_id)
    return m


def remove_member(session: Session, m: Membership, *, actor_id: uuid.UUID | None = None) -> None:
    _keep_an_admin(session, m, after=None)
    customer_id, member_id, subject = m.customer_id, m.id, m.account_id
    session.delete(m)
    session.flush()
    audit.record(session, action="member.removed", customer_id=customer_id, actor_id=actor_id,
                 actor_role="admin", object_type="membership", object_id=member_id,
                 subject_id=subject)
