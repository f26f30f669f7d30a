"""Which customer a console page works in: the API's own check (``api.access``), plus what
the page frame shows (the customer's name, the person's role)."""

from __future__ import annotations

import uuid

from flask import g
from sqlalchemy import select

from api.access import ADMIN_OR_OPERATOR, require_customer
from entryfy.web import db_session
from models import Customer, Membership
from models.tenancy import TenantContext, set_context

CONSOLE_ROLES = ADMIN_OR_OPERATOR


def console_customers(account_id: uuid.UUID) -> list[tuple[Customer, str]]:
    """The customers the person may run in the console (admin or operator, current)."""
    s = db_session()
    set_context(s, TenantContext(account_id=account_id))
    rows = s.execute(select(Membership, Customer)
                     .join(Customer, Customer.id == Membership.customer_id)
                     .where(Membership.account_id == account_id,
                            Membership.role.in_(CONSOLE_ROLES),
                            Customer.status != "ended")
                     .order_by(Customer.name)).all()
    return [(c, m.role) for m, c in rows if m.is_current]


def enter(customer_id: uuid.UUID, roles: tuple[str, ...]) -> Membership:
    """``require_customer`` (404 for a stranger, 403 for a wrong role) and the page frame."""
    m = require_customer(customer_id, roles)
    g.console_customer = db_session().get(Customer, customer_id)
    g.console_role = m.role
    return m
