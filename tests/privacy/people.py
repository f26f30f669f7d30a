"""A person with data in every table that can hold personal data, built table by table from
the data map: a new table with personal columns fails ``build_everywhere`` until it has a
builder here, so export and erasure tests always cover it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from entryfy import clock, security
from entryfy.ops import accounts as account_ops
from entryfy.ops import identity
from models import Account, Customer, Entry, EntryCorrection, Membership
from privacy import audit, datamap
from tests.factories import PASSWORD, Factory, World

# Tables with personal columns that no person's data goes into before an erasure.
NOT_BUILT = {
    "erasures": "the erasure tombstone itself: an account id and a keyed hash, written by "
                "erasure",
}

DEVICE_ID = "dev-7f3a-quxberg-phone"


@dataclasses.dataclass
class Person:
    account: Account
    email: str
    first_name: str
    last_name: str
    phone: str
    identity_number: str
    device_id: str
    world: World
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    # table -> values the register extract must show
    expected: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    built: set[str] = dataclasses.field(default_factory=set)

    @property
    def identifiers(self) -> dict[str, str]:
        """Values that identify the person; none may survive erasure outside a legal hold."""
        return {
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "phone": self.phone,
            "identity_number": self.identity_number,
            "device_id": self.device_id,
            "device_hash": security.keys().keyed_hash("device-id", self.device_id),
            "test_device_hash": security.keys().keyed_hash("device-id", "device-0001-test"),
            "identity_ciphertext": self.extra["cipher"],
            "identity_lookup_hash": identity.lookup_hash(self.identity_number),
        }


def personal_tables() -> set[str]:
    return {c.table for c in datamap.personal_columns()}


def _b_accounts(s: Session, make: Factory, p: Person) -> None:
    p.expected["accounts"] = [p.email, p.first_name, p.last_name, p.phone, p.identity_number]


def _b_devices(s: Session, make: Factory, p: Person) -> None:
    device, _ = account_ops.register_device(s, p.account, device_id=p.device_id,
                                            name="Quxberg Pixel", platform="android")
    p.extra["device"] = device
    s.commit()
    p.expected["devices"] = ["Quxberg Pixel", security.keys().keyed_hash("device-id",
                                                                         p.device_id)]


def _b_access_tokens(s: Session, make: Factory, p: Person) -> None:
    issued = account_ops.issue_device_token(s, p.account, p.extra["device"],
                                            lifetime=dt.timedelta(days=30), ip="203.0.113.77")
    s.commit()
    p.extra["token"] = issued.secret
    p.expected["access_tokens"] = ["203.0.113.0/24"]


def _b_email_verifications(s: Session, make: Factory, p: Person) -> None:
    # A change of address asked for and not yet proven: the new address is the person's.
    from entryfy.ops import mailbox

    mailbox.send_code(s, p.account, "zlatana.new@example.test", "change")
    s.commit()
    p.expected["email_verifications"] = ["zlatana.new@example.test"]


def _b_consents(s: Session, make: Factory, p: Person) -> None:
    from privacy import consent

    nv = consent.current_notice(s, "newsletter") or consent.publish_notice(
        s, "newsletter", url="https://entryfy.dev/newsletter", text="Newsletter notice v1")
    consent.decide(s, p.account.id, [consent.Choice("newsletter", True, nv.version)], "app")
    s.commit()
    p.expected["consents"] = ["newsletter"]


def _b_memberships(s: Session, make: Factory, p: Person) -> None:
    w = p.world
    m = make.membership(w.a.customer, p.account, "member", employer_name="Quxberg Bygg AB",
                        employer_org_nr="559012-3450")
    p.extra["membership_a"] = m
    p.extra["membership_b"] = make.membership(w.b.customer, p.account, "admin")
    # A pending invitation to the person's address in a third customer.
    c = make.customer()
    c_admin = make.account()
    make.membership(c, c_admin, "admin")
    make.membership(c, None, "member", invited_email=p.email.upper())
    p.extra["customer_c"], p.extra["admin_c"] = c, c_admin
    p.expected["memberships"] = ["Quxberg Bygg AB", p.email.upper()]


def _b_entries(s: Session, make: Factory, p: Person) -> None:
    w = p.world
    now = clock.now()
    recent = Entry(id=uuid.uuid4(), customer_id=w.a.customer.id, site_id=w.a.site.id,
                   account_id=p.account.id, membership_id=p.extra["membership_a"].id,
                   employer_name="Quxberg Bygg AB", employer_org_nr="559012-3450",
                   checked_in_at=now - dt.timedelta(hours=9),
                   checked_out_at=now - dt.timedelta(hours=1), inside_geofence=True,
                   distance_m=12, ip_prefix="198.51.100.0/24", source="app")
    # Made four years ago: past the ledger's legal hold, erased like anything else.
    old_at = now.replace(year=now.year - 4)
    old = Entry(id=uuid.uuid4(), customer_id=w.a.customer.id, site_id=w.a.site.id,
                account_id=p.account.id, checked_in_at=old_at, created_at=old_at,
                employer_name="Quxberg Bygg AB", source="app")
    other = Entry(id=uuid.uuid4(), customer_id=w.b.customer.id, site_id=w.b.site.id,
                  account_id=w.b.worker.id, checked_in_at=now - dt.timedelta(hours=3),
                  source="app")
    s.add_all([recent, old, other])
    s.commit()
    p.extra.update(entry_recent=recent, entry_old=old, entry_other=other)
    p.expected["entries"] = [str(recent.id), str(old.id), "198.51.100.0/24"]


def _b_entry_corrections(s: Session, make: Factory, p: Person) -> None:
    w = p.world
    own = EntryCorrection(id=uuid.uuid4(), customer_id=w.a.customer.id,
                          entry_id=p.extra["entry_recent"].id, corrected_by_id=w.a.admin.id,
                          reason="Forgot to check out at the gate (Quxberg)")
    # The person, as B's admin, corrected someone else's entry.
    as_admin = EntryCorrection(id=uuid.uuid4(), customer_id=w.b.customer.id,
                               entry_id=p.extra["entry_other"].id,
                               corrected_by_id=p.account.id, reason="Badge reader fault")
    s.add_all([own, as_admin])
    s.commit()
    p.extra["correction_as_admin"] = as_admin
    p.expected["entry_corrections"] = ["Forgot to check out at the gate (Quxberg)",
                                       "Badge reader fault"]


def _b_audit_events(s: Session, make: Factory, p: Person) -> None:
    w = p.world
    e1 = audit.record(s, action="member.read", customer_id=w.a.customer.id,
                      actor_id=w.a.admin.id, actor_role="admin", object_type="membership",
                      object_id=p.extra["membership_a"].id, subject_id=p.account.id)
    e2 = audit.record(s, action="entry.corrected", customer_id=w.b.customer.id,
                      actor_id=p.account.id, actor_role="admin", object_type="entry",
                      object_id=p.extra["entry_other"].id, subject_id=w.b.worker.id)
    s.commit()
    p.expected["audit_events"] = ["member.read", "entry.corrected", str(e1.id), str(e2.id)]


def _b_doors(s: Session, make: Factory, p: Person) -> None:
    """access_members, door_credentials, access_events (and the unlock command hanging on
    one): the person's access to a door of customer A."""
    from models.doors import (
        Access,
        AccessEvent,
        AccessMember,
        Controller,
        Door,
        DoorCredential,
        UnlockCommand,
    )

    w = p.world
    cid = w.a.customer.id
    ctrl = Controller(id=uuid.uuid4(), customer_id=cid, name="Gate controller",
                      key_hash=uuid.uuid4().hex + uuid.uuid4().hex)
    door = Door(id=uuid.uuid4(), customer_id=cid, site_id=w.a.site.id, name="Gate",
                controller_id=ctrl.id, entry_code=uuid.uuid4().hex, exit_code=uuid.uuid4().hex)
    access = Access(id=uuid.uuid4(), customer_id=cid, site_id=w.a.site.id, name="Workers",
                    methods=["app", "pin"])
    s.add_all([ctrl, door, access])
    s.flush()
    m = p.extra["membership_a"]
    pin_hash = security.keys().keyed_hash("door-pin", f"{cid}:482913")
    event = AccessEvent(id=uuid.uuid4(), customer_id=cid, door_id=door.id,
                        account_id=p.account.id, membership_id=m.id, method="app",
                        direction="in", outcome="granted", source="app")
    s.add_all([
        AccessMember(customer_id=cid, access_id=access.id, membership_id=m.id),
        DoorCredential(id=uuid.uuid4(), customer_id=cid, membership_id=m.id, kind="pin",
                       value_hash=pin_hash),
        event,
    ])
    s.flush()
    s.add(UnlockCommand(id=uuid.uuid4(), customer_id=cid, controller_id=ctrl.id,
                        door_id=door.id, event_id=event.id,
                        expires_at=clock.now() + dt.timedelta(seconds=30)))
    s.commit()
    p.expected["access_members"] = [str(access.id)]
    p.expected["door_credentials"] = [pin_hash]
    p.expected["access_events"] = [str(event.id), "granted"]
    p.built.update({"access_members", "door_credentials", "access_events"})


def _b_support(s: Session, make: Factory, p: Person) -> None:
    """tickets, ticket_messages, access_grants: the person as customer B's admin."""
    from models.support import AccessGrant, Ticket, TicketMessage

    w = p.world
    cid = w.b.customer.id
    now = clock.now()
    t = Ticket(id=uuid.uuid4(), customer_id=cid, opened_by_id=p.account.id,
               subject="Ledger export fails", status="open", updated_at=now)
    s.add(t)
    s.flush()
    s.add_all([
        TicketMessage(id=uuid.uuid4(), customer_id=cid, ticket_id=t.id,
                      author_id=p.account.id, author_role="customer",
                      body="Call me on +46 70 765 43 21, regards Zlatana"),
        AccessGrant(id=uuid.uuid4(), customer_id=cid, ticket_id=t.id, scopes="entries",
                    granted_by_id=p.account.id, expires_at=now + dt.timedelta(hours=4)),
    ])
    s.commit()
    p.expected["tickets"] = ["Ledger export fails"]
    p.expected["ticket_messages"] = ["Call me on +46 70 765 43 21, regards Zlatana"]
    p.expected["access_grants"] = ["entries"]
    p.built.update({"tickets", "ticket_messages", "access_grants"})


def _b_requests(s: Session, make: Factory, p: Person) -> None:
    """data_requests, data_request_parts (and their history): an earlier rectification."""
    from privacy import requests as dsr

    req = dsr.submit(s, p.account, "rectification",
                     "My employer is spelt Quxberg Bygg AB, not Quxborg", PASSWORD)
    s.commit()
    p.extra["earlier_request"] = req
    p.expected["data_requests"] = ["My employer is spelt Quxberg Bygg AB, not Quxborg"]
    p.expected["data_request_parts"] = [str(req.id)]
    p.built.update({"data_requests", "data_request_parts"})


def _b_outbox(s: Session, make: Factory, p: Person) -> None:
    """outbox_mails (a mail to the person still waiting to be sent) and webhook_deliveries
    (a member.created event about their membership, for customer A's webhook)."""
    from entryfy import outbox
    from entryfy.ops import events, webhooks

    outbox.write_mail(s, p.email, "Waiting", "A mail not yet sent")
    webhooks.create_endpoint(s, p.world.a.customer.id, url="https://93.184.215.14/hook",
                             events=["member.created"], actor_id=None)
    m = membership_of(s, p.world.a.customer, p.account)
    assert m is not None
    events.emit(s, p.world.a.customer.id, "member.created",
                {"id": m.id, "role": m.role, "pending": False})
    s.commit()
    p.expected["outbox_mails"] = [p.email]
    p.built.update({"outbox_mails", "webhook_deliveries"})


def _b_site_ops(s: Session, make: Factory, p: Person) -> None:
    """kiosks, inspections: the person, as customer B's admin, made a kiosk and issued an
    inspector's access."""
    from models.site_ops import Inspection, Kiosk

    w = p.world
    cid = w.b.customer.id
    now = clock.now()
    kiosk = Kiosk(id=uuid.uuid4(), customer_id=cid, site_id=w.b.site.id, name="Gate tablet",
                  token_hash=uuid.uuid4().hex + uuid.uuid4().hex, created_by_id=p.account.id,
                  require_pin=False)
    inspection = Inspection(id=uuid.uuid4(), customer_id=cid, site_id=w.b.site.id,
                            code_hash=uuid.uuid4().hex + uuid.uuid4().hex,
                            period_from=now - dt.timedelta(days=7), period_to=now,
                            expires_at=now + dt.timedelta(hours=8),
                            created_by_id=p.account.id)
    s.add_all([kiosk, inspection])
    s.commit()
    p.expected["kiosks"] = [str(kiosk.id)]
    p.expected["inspections"] = [str(inspection.id)]
    p.built.update({"kiosks", "inspections"})


def _b_door_control(s: Session, make: Factory, p: Person) -> None:
    """lockdowns, passback_states: the person started a lockdown of customer B's site (as its
    admin) and, at customer A's site, came in through an access with anti-passback."""
    from models.door_control import Lockdown, PassbackState

    w = p.world
    ld = Lockdown(id=uuid.uuid4(), customer_id=w.b.customer.id, site_id=w.b.site.id,
                  mode="lockdown", exempt_roles=[], started_by_id=p.account.id)
    m = p.extra["membership_a"]
    state = PassbackState(customer_id=w.a.customer.id, membership_id=m.id,
                          site_id=w.a.site.id, entered_at=clock.now())
    s.add_all([ld, state])
    s.commit()
    p.expected["lockdowns"] = [str(ld.id)]
    p.expected["passback_states"] = [str(w.a.site.id)]
    p.built.update({"lockdowns", "passback_states"})


BUILDERS: list[tuple[str, Callable[[Session, Factory, Person], None]]] = [
    ("accounts", _b_accounts),
    ("devices", _b_devices),
    ("access_tokens", _b_access_tokens),
    ("email_verifications", _b_email_verifications),
    ("consents", _b_consents),
    ("memberships", _b_memberships),
    ("entries", _b_entries),
    ("entry_corrections", _b_entry_corrections),
    ("audit_events", _b_audit_events),
    ("access_members", _b_doors),
    ("tickets", _b_support),
    ("data_requests", _b_requests),
    ("outbox_mails", _b_outbox),
    ("kiosks", _b_site_ops),
    ("lockdowns", _b_door_control),
]


def build_everywhere(session: Session, make: Factory, world: World) -> Person:
    acc = make.account(email="zlatana.quxberg@example.test", first_name="Zlatana",
                       last_name="Quxberg", phone="+46701112233")
    number = "19850101-0014"
    identity.set_identity_number(session, acc, number)
    session.commit()
    p = Person(acc, acc.email, "Zlatana", "Quxberg", "+46701112233", number, DEVICE_ID, world)

    p.extra["cipher"] = session.get(Account, acc.id).identity_number_enc
    for table, builder in BUILDERS:
        builder(session, make, p)
        p.built.add(table)
    missing = personal_tables() - p.built - set(NOT_BUILT)
    if missing:
        pytest.fail(f"no test builder puts a person's data into {sorted(missing)}: add one to "
                    "tests/privacy/people.py so export and erasure are tested on it")
    return p


def customer_ids(p: Person) -> dict[str, uuid.UUID]:
    return {"a": p.world.a.customer.id, "b": p.world.b.customer.id,
            "c": p.extra["customer_c"].id}


def membership_of(session: Session, customer: Customer, account: Account) -> Membership | None:
    from sqlalchemy import select

    return session.scalar(select(Membership).where(Membership.customer_id == customer.id,
                                                   Membership.account_id == account.id))
