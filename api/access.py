"""Who may act in which customer: the checks views call before touching tenant data."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from entryfy.auth import current_account, current_account_id
from entryfy.errors import Forbidden, NotFound
from entryfy.web import db_session
from models import Account, Customer, Membership
from models.tenancy import scope_to
from models.vocab import Role

ADMIN = (Role.ADMIN,)
ADMIN_OR_OPERATOR = (Role.ADMIN, Role.OPERATOR)
# Every role but guest (a guest opens doors only).
ANY_MEMBER = (Role.MEMBER, Role.ADMIN, Role.OPERATOR, Role.FOREMAN)
# Who is on site now (the evacuation list): the people who run the site's day.
ON_SITE_ROLES = (Role.ADMIN, Role.OPERATOR, Role.FOREMAN)
# Door hardware (controllers, doors, their signs): admins and hardware managers, who manage
# no people and no accesses.
DOOR_HARDWARE = (Role.ADMIN, Role.HARDWARE_MANAGER)
# Door alerts: whoever watches the doors or looks after them.
DOOR_ALERT_ROLES = (Role.ADMIN, Role.OPERATOR, Role.HARDWARE_MANAGER)


def require_customer(customer_id: uuid.UUID, roles: tuple[str, ...] = ADMIN) -> Membership:
    """The signed-in person's current membership in ``customer_id`` with one of ``roles``.

    Not a member (or an ended customer): 404, exactly like a customer that does not exist.
    A member without the role: 403. On success the session is scoped to that customer.
    """
    s = db_session()
    m = s.scalar(
        select(Membership).where(
            Membership.customer_id == customer_id,
            Membership.account_id == current_account_id(),
        )
    )
    if m is None or not m.is_current:
        raise NotFound("No such customer.")
    customer = s.get(Customer, customer_id)
    if customer is None or customer.status == "ended":
        raise NotFound("No such customer.")
    if m.role not in roles:
        raise Forbidden("Your role in this customer does not allow this.", slug="role-required")
    scope_to(s, customer_id)
    return m


def require_staff(*roles: str) -> Account:
    account = current_account()
    if account.staff_role not in roles:
        raise Forbidden("Vendor staff only.", slug="staff-only")
    return account


def member_customer_ids(account_id: uuid.UUID) -> list[uuid.UUID]:
    """The customers where the person currently holds an active membership."""
    s = db_session()
    rows = s.scalars(select(Membership).where(Membership.account_id == account_id))
    return [m.customer_id for m in rows if m.is_current and m.role != Role.GUEST]
