"""Factories for the usual cast, and helpers to sign in through the API."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from sqlalchemy.orm import Session

from entryfy.ops import accounts as account_ops
from models import Account, Customer, Membership, Site

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


def org_nr() -> str:
    """A valid Swedish organisation number (Luhn check digit), unique per call."""
    n = next(_seq)
    body = f"5560{n:05d}"[:9]
    digits = [int(c) for c in body]
    total = 0
    for i, d in enumerate(digits):
        v = d * (2 if i % 2 == 0 else 1)
        total += v - 9 if v > 9 else v
    check = (10 - total % 10) % 10
    return f"{body[:6]}-{body[6:]}{check}"


@dataclasses.dataclass
class Tenant:
    customer: Customer
    admin: Account
    worker: Account
    site: Site
    admin_membership: Membership
    worker_membership: Membership


@dataclasses.dataclass
class World:
    a: Tenant
    b: Tenant


class Factory:
    def __init__(self, session: Session) -> None:
        self.s = session

    def _done(self, obj: Any) -> Any:
        self.s.add(obj)
        self.s.flush()
        self.s.commit()  # a savepoint release inside the test's outer transaction
        return obj

    def account(self, email: str | None = None, password: str = PASSWORD, **kw: Any) -> Account:
        n = next(_seq)
        acc = account_ops.register(
            self.s,
            email=email or f"person{n}@example.test",
            password=password,
            first_name=kw.pop("first_name", f"First{n}"),
            last_name=kw.pop("last_name", f"Last{n}"),
            phone=kw.pop("phone", None),
        )
        for k, v in kw.items():
            setattr(acc, k, v)
        return self._done(acc)

    def customer(self, name: str | None = None, **kw: Any) -> Customer:
        n = next(_seq)
        return self._done(Customer(name=name or f"Customer {n} AB", org_nr=kw.pop("org_nr",
                                   org_nr()), **kw))

    def membership(self, customer: Customer, account: Account | None, role: str = "member",
                   **kw: Any) -> Membership:
        return self._done(Membership(customer_id=customer.id,
                                     account_id=account.id if account else None, role=role, **kw))

    def site(self, customer: Customer, **kw: Any) -> Site:
        n = next(_seq)
        defaults: dict[str, Any] = {"name": f"Site {n}", "latitude": 59.33, "longitude": 18.06,
                                    "radius_m": 200, "geofence": "enforce",
                                    "ledger_id": f"LEDGER-{n}"}
        defaults.update(kw)
        return self._done(Site(customer_id=customer.id, **defaults))

    def tenant(self) -> Tenant:
        c = self.customer()
        admin = self.account()
        worker = self.account()
        am = self.membership(c, admin, "admin")
        wm = self.membership(c, worker, "member", employer_name="Sub AB",
                             employer_org_nr="559012-3450")
        return Tenant(c, admin, worker, self.site(c), am, wm)

    def world(self) -> World:
        return World(self.tenant(), self.tenant())

    def staff(self, role: str = "support", email: str | None = None) -> Any:
        """A vendor staff account with its second factor enrolled: returns the Enrolment
        (``.account``, ``.secret``, ``.recovery_codes``); sign in with ``staff_login``."""
        from entryfy.ops import staff as staff_ops

        n = next(_seq)
        enrolment = staff_ops.create_staff(
            self.s, email=email or f"staff{n}@vendor.test", password=PASSWORD, role=role,
            first_name=f"Staff{n}", last_name="Vendor")
        self.s.commit()
        return enrolment


def login(client: Any, account: Account | str, password: str = PASSWORD) -> str:
    """Browser sign-in; returns the CSRF token to send as X-CSRF-Token."""
    email = account if isinstance(account, str) else account.email
    r = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.get_json()
    return r.get_json()["csrf_token"]


def bearer(client: Any, account: Account, password: str = PASSWORD,
           device_id: str = "device-0001-test") -> dict[str, str]:
    """Phone sign-in; returns the Authorization header."""
    r = client.post("/api/v1/auth/tokens", json={
        "email": account.email, "password": password, "device_id": device_id,
        "device_name": "Test phone", "platform": "android"})
    assert r.status_code == 201, r.get_json()
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def totp_now(secret: str, at: Any = None) -> str:
    """The TOTP code of ``secret`` at ``at`` (default: entryfy's clock)."""
    import pyotp

    from entryfy import clock

    return pyotp.TOTP(secret).at(at or clock.now())


def staff_login(client: Any, enrolment: Any, otp: str | None = None) -> str:
    """Browser sign-in of vendor staff with a TOTP code (or ``otp``); returns the CSRF token."""
    r = client.post("/api/v1/auth/login", json={
        "email": enrolment.account.email, "password": PASSWORD,
        "otp": otp or totp_now(enrolment.secret)})
    assert r.status_code == 200, r.get_json()
    return r.get_json()["csrf_token"]


def mails_to(email: str) -> list[Any]:
    """The messages in the running app's outbox addressed to ``email``, oldest first (by the
    files' times: their names order them only to the second)."""
    from email import policy
    from email.parser import BytesParser

    from entryfy import mail

    outbox = mail.mailer().outbox
    if not outbox.exists():
        return []
    files = sorted(outbox.glob("*.eml"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    parser = BytesParser(policy=policy.default)
    messages = [parser.parsebytes(p.read_bytes()) for p in files]
    return [m for m in messages if m["To"] in (email, email.strip().lower())]


def mail_code(email: str) -> str:
    """The code in the newest message to ``email`` (registration, change of address)."""
    import re

    for m in reversed(mails_to(email)):
        found = re.search(r"Your code: (\d{6})", m.get_content())
        if found:
            return found.group(1)
    raise AssertionError(f"no code was mailed to {email}")


SIGNUP_PASSWORD = "a long passphrase here"


def signup(client: Any, email: str, password: str = SIGNUP_PASSWORD, first_name: str = "Nya",
           last_name: str = "Person") -> dict[str, Any]:
    """Register through the API and prove the address with the mailed code; the account."""
    r = client.post("/api/v1/auth/register", json={
        "email": email, "password": password, "first_name": first_name,
        "last_name": last_name})
    assert r.status_code == 202, r.get_json()
    r = client.post("/api/v1/auth/verify-email", json={"email": email,
                                                       "code": mail_code(email)})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def accept_invitations(client: Any, headers: dict[str, str] | None = None) -> list[str]:
    """Accept every open invitation of the signed-in person; the customer ids joined."""
    headers = headers or {}
    joined = []
    for inv in client.get("/api/v1/me/invitations", headers=headers).get_json():
        r = client.post(f"/api/v1/me/invitations/{inv['id']}/accept", headers=headers)
        assert r.status_code == 200, r.get_json()
        joined.append(r.get_json()["customer_id"])
    return joined
