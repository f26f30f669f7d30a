"""Demo data for a first try: a customer, a site, an admin and a worker, with printed logins."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from entryfy.ops import accounts as account_ops
from models import Account, Customer, Membership, Site
from models.tenancy import system_scope

DEMO_PASSWORD = "entryfy-demo-2026"  # noqa: S105  (demo only; printed on purpose)
ADMIN_EMAIL = "admin@demo.entryfy.dev"
WORKER_EMAIL = "worker@demo.entryfy.dev"


def seed(session: Session, echo: Callable[[str], object] = print) -> bool:
    if session.scalar(select(func.count()).select_from(Account)):
        echo("demo: the database already has accounts; nothing seeded.")
        _print_logins(echo)
        return False
    with system_scope(session, "demo seed"):
        customer = Customer(name="Demo Bygg AB", org_nr="556677-8899", address="Solna")
        session.add(customer)
        session.flush()
        admin = account_ops.register(session, email=ADMIN_EMAIL, password=DEMO_PASSWORD,
                                     first_name="Ada", last_name="Admin")
        worker = account_ops.register(session, email=WORKER_EMAIL, password=DEMO_PASSWORD,
                                      first_name="Wim", last_name="Worker", phone="+46701234567")
        session.add_all([
            Membership(customer_id=customer.id, account_id=admin.id, role="admin"),
            Membership(customer_id=customer.id, account_id=worker.id, role="member",
                       employer_name="Underentreprenör AB", employer_org_nr="559012-3450"),
            Site(customer_id=customer.id, name="Kv. Hästen, Solna", address="Solna strandväg 1",
                 latitude=59.3600, longitude=18.0000, radius_m=150, geofence="enforce",
                 ledger_id="BYG-2026-0001"),
        ])
        session.flush()
    echo("demo: seeded customer 'Demo Bygg AB' with one site, an admin and a worker.")
    _print_logins(echo)
    return True


def _print_logins(echo: Callable[[str], object]) -> None:
    echo(f"demo logins (password '{DEMO_PASSWORD}'):")
    echo(f"  customer admin: {ADMIN_EMAIL}")
    echo(f"  worker:         {WORKER_EMAIL}")
