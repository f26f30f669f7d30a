"""Demo data for a first try: a world where every main flow works for each demo login.

One customer with an admin and a worker (both with identity numbers, so the ledger site takes
their check-ins), a site with a geofence, two doors on a controller, an access covering both
logins by app, QR and PIN, a guest, a support ticket and a pending data-subject request. It
prints the logins, the ids and a copy-paste walkthrough (curl) of check-in, door opening,
ledger export and register extract; ``--json`` prints the same as JSON.

Everything goes through the operations (entryfy.ops, privacy), as the API would, so the demo
is held to the same rules and writes the same audit events.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from entryfy import clock
from entryfy.ops import accounts as account_ops
from entryfy.ops import doors as door_ops
from entryfy.ops import identity
from entryfy.ops import support as support_ops
from models import Account, Controller, Customer, DataRequest, Door, Membership, Site, Ticket
from models.tenancy import system_scope

DEMO_PASSWORD = "entryfy-demo-2026"  # noqa: S105  (demo only; printed on purpose)
ADMIN_EMAIL = "admin@demo.entryfy.dev"
WORKER_EMAIL = "worker@demo.entryfy.dev"
GUEST_EMAIL = "guest@demo.entryfy.dev"
CUSTOMER_NAME = "Demo Bygg AB"
# Valid-looking Swedish identity numbers (check digit right) for made-up people.
ADMIN_IDENTITY = "19800314-1234"
WORKER_IDENTITY = "19850101-9874"
SITE = {"name": "Kv. Hästen, Solna", "address": "Solna strandväg 1", "latitude": 59.3600,
        "longitude": 18.0000, "radius_m": 150, "ledger_id": "BYG-2026-0001"}
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def seed(session: Session, echo: Callable[[str], object] = print, *,
         base_url: str = DEFAULT_BASE_URL, as_json: bool = False) -> bool:
    """Seed the demo world into an empty database and print it; on a database that already
    has accounts, seed nothing and print the existing demo world (secrets shown only once)."""
    with system_scope(session, "demo seed"):
        if session.scalar(select(func.count()).select_from(Account)):
            world = describe(session)
            seeded = False
        else:
            world = _seed(session)
            seeded = True
    if as_json:
        echo(json.dumps({**world, "walkthrough": walkthrough(world, base_url)}, indent=2))
    elif world.get("customer_id"):
        if seeded:
            echo(f"demo: seeded customer '{CUSTOMER_NAME}': a site, two doors on a controller, "
                 "an admin, a worker, a guest, a ticket and a pending data-subject request.")
        else:
            echo("demo: the database already has accounts; nothing seeded.")
        echo(_text(world, base_url))
    else:
        echo("demo: the database already has accounts; nothing seeded (no demo customer).")
    return seeded


def _seed(session: Session) -> dict[str, Any]:
    now = clock.now()
    customer = Customer(name=CUSTOMER_NAME, org_nr="556677-8899", address="Solna")
    session.add(customer)
    session.flush()
    admin = account_ops.register(session, email=ADMIN_EMAIL, password=DEMO_PASSWORD,
                                 first_name="Ada", last_name="Admin")
    worker = account_ops.register(session, email=WORKER_EMAIL, password=DEMO_PASSWORD,
                                  first_name="Wim", last_name="Worker", phone="+46701234567")
    identity.set_identity_number(session, admin, ADMIN_IDENTITY)
    identity.set_identity_number(session, worker, WORKER_IDENTITY)
    admin_m = Membership(customer_id=customer.id, account_id=admin.id, role="admin")
    worker_m = Membership(customer_id=customer.id, account_id=worker.id, role="member",
                          employer_name="Underentreprenör AB", employer_org_nr="559012-3450")
    site = Site(customer_id=customer.id, geofence="enforce", **SITE)
    session.add_all([admin_m, worker_m, site])
    session.flush()
    controller, controller_key = door_ops.create_controller(
        session, customer_id=customer.id, name="Controller, main gate")
    door = door_ops.create_door(session, site=site, name="Main gate",
                                controller_id=controller.id, site_entrance=False)
    store = door_ops.create_door(session, site=site, name="Tool store",
                                 controller_id=controller.id)
    door_ops.create_access(session, customer_id=customer.id, name="Everyone, every door",
                           door_ids=[door.id, store.id], member_ids=[admin_m.id, worker_m.id],
                           methods=["app", "qr", "pin"])
    _, worker_pin = door_ops.issue_pin(session, worker_m)
    guest = door_ops.invite_guest(session, customer_id=customer.id, email=GUEST_EMAIL,
                                  valid_from=now, valid_to=now + dt.timedelta(days=7),
                                  door_ids=[door.id], first_name="Gusti",
                                  invited_by=admin.id)
    ticket = support_ops.open_ticket(session, customer_id=customer.id, author=admin,
                                     subject="Demo: the tool store door sticks",
                                     body="It needs a push after the beep. (Demo ticket.)")
    from privacy import requests as privacy_requests

    request = privacy_requests.submit(session, worker, "rectification",
                                      "My phone number has changed. (Demo request.)",
                                      DEMO_PASSWORD)
    session.flush()
    world = describe(session)
    world["controller"]["key"] = controller_key
    world["door"]["pin_of_worker"] = worker_pin
    world["guest"]["member_id"] = str(guest.membership.id)
    world["ticket_id"] = str(ticket.id)
    world["request_id"] = str(request.id)
    return world


def describe(session: Session) -> dict[str, Any]:
    """The demo world as it is in the database (secrets, stored only hashed, are absent)."""
    customer = session.scalar(select(Customer).where(Customer.name == CUSTOMER_NAME))
    if customer is None:
        return {}
    site = session.scalar(select(Site).where(Site.customer_id == customer.id)
                          .order_by(Site.created_at))
    door = session.scalar(select(Door).where(Door.customer_id == customer.id,
                                             Door.name == "Main gate"))
    controller = session.scalar(select(Controller).where(Controller.customer_id == customer.id))
    logins = []
    for email, role in ((ADMIN_EMAIL, "admin"), (WORKER_EMAIL, "worker")):
        row = session.execute(
            select(Account.id, Membership.id).join(Membership, Membership.account_id == Account.id)
            .where(Account.email == email, Membership.customer_id == customer.id)).first()
        if row is not None:
            logins.append({"role": role, "email": email, "password": DEMO_PASSWORD,
                           "account_id": str(row[0]), "member_id": str(row[1])})
    ticket = session.scalar(select(Ticket.id).where(Ticket.customer_id == customer.id))
    worker_id = next((x["account_id"] for x in logins if x["role"] == "worker"), None)
    request = None if worker_id is None else session.scalar(
        select(DataRequest.id).where(DataRequest.account_id == uuid.UUID(worker_id))
        .order_by(DataRequest.received_at))
    return {
        "logins": logins,
        "customer_id": str(customer.id),
        "site": None if site is None else {
            "id": str(site.id), "name": site.name, "latitude": site.latitude,
            "longitude": site.longitude, "radius_m": site.radius_m,
            "ledger_id": site.ledger_id},
        "door": None if door is None else {
            "id": str(door.id), "name": door.name, "entry_code": door.entry_code,
            "exit_code": door.exit_code, "methods": ["app", "qr", "pin"]},
        "controller": None if controller is None else {"id": str(controller.id), "key": None},
        "guest": {"email": GUEST_EMAIL,
                  "note": "PIN and QR code were e-mailed (see the outbox folder)"},
        "ticket_id": None if ticket is None else str(ticket),
        "request_id": None if request is None else str(request),
    }


# ------------------------------------------------------------------------------ the walkthrough

def walkthrough(world: dict[str, Any], base_url: str = DEFAULT_BASE_URL) -> str:
    """A bash script of curl calls, each of which must succeed (``--fail-with-body``)."""
    site, door = world["site"], world["door"]
    worker = next(x for x in world["logins"] if x["role"] == "worker")
    admin = next(x for x in world["logins"] if x["role"] == "admin")
    today = clock.now().date()
    start = f"{today - dt.timedelta(days=1)}T00:00:00Z"
    end = f"{today + dt.timedelta(days=366)}T00:00:00Z"
    curl = "curl -sS --fail-with-body"
    json_h = "-H 'Content-Type: application/json'"
    here = {"latitude": site["latitude"], "longitude": site["longitude"], "accuracy_m": 10}
    get = "python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])'"

    def body(d: dict[str, Any]) -> str:
        return shlex.quote(json.dumps(d))

    customer, site_id = world["customer_id"], site["id"]
    return "\n".join([
        "# Entryfy demo walkthrough: paste into a shell (bash or zsh) while the server runs.",
        f"BASE={shlex.quote(base_url)}",
        "",
        "# 1. The worker signs in on a phone: a bearer token for this device, shown once.",
        "#    device_id is any stable id of the device (8 to 200 characters); the server keeps",
        "#    only a keyed hash of it, so signing in again from it replaces that device's token.",
        f"TOKEN=$({curl} -X POST \"$BASE/api/v1/auth/tokens\" {json_h} \\",
        "  -d " + body({"email": worker["email"], "password": worker["password"],
                        "device_id": "demo-phone-0001", "device_name": "Demo phone"})
        + f" | {get} token)",
        'AUTH="Authorization: Bearer $TOKEN"',
        "",
        f"# 2. Check in at '{site['name']}', standing inside its fence. Idempotency-Key: a new",
        "#    unique string per check-in; a retry with the same key returns the same entry.",
        f"ENTRY=$({curl} -X POST \"$BASE/api/v1/entries\" -H \"$AUTH\" {json_h} \\",
        "  -H \"Idempotency-Key: $(python3 -c 'import uuid; print(uuid.uuid4())')\" \\",
        "  -d " + body({"site_id": site_id, **here}) + f" | {get} id)",
        'echo "checked in: entry $ENTRY"',
        "",
        "# 3. The doors the worker may open, then open one from the app (position required).",
        f"{curl} \"$BASE/api/v1/me/doors\" -H \"$AUTH\"; echo",
        f"{curl} -X POST \"$BASE/api/v1/doors/{door['id']}/open\" -H \"$AUTH\" {json_h} \\",
        "  -d " + body(here) + "; echo",
        "",
        "# 4. Check out again.",
        f"{curl} -X POST \"$BASE/api/v1/entries/$ENTRY/checkout\" -H \"$AUTH\" {json_h} \\",
        "  -d " + body({"latitude": here["latitude"], "longitude": here["longitude"]})
        + "; echo",
        "",
        "# 5. The worker's register extract (GDPR Art. 15): everything held about them.",
        f"{curl} \"$BASE/api/v1/me/export\" -H \"$AUTH\" -o entryfy-register-extract.json"
        " && echo 'saved entryfy-register-extract.json'",
        "",
        "# 6. The admin signs in as a browser does: a session cookie, and a csrf_token in the",
        "#    answer. Every POST/PUT/PATCH/DELETE made with the cookie must send that token in",
        "#    the X-CSRF-Token header (bearer-token clients need none).",
        'JAR="${TMPDIR:-/tmp}/entryfy-demo.cookies"',
        f"CSRF=$({curl} -c \"$JAR\" -X POST \"$BASE/api/v1/auth/login\" {json_h} \\",
        "  -d " + body({"email": admin["email"], "password": admin["password"]})
        + f" | {get} csrf_token)",
        "",
        "# 7. The site's personnel ledger as CSV (the worker's shift is in it).",
        f"{curl} -b \"$JAR\" \"$BASE/api/v1/customers/{customer}/sites/{site_id}/ledger"
        f"?from={start}&to={end}&format=csv\"",
        "",
        "# 8. The data-subject requests waiting for the customer's decision.",
        f"{curl} -b \"$JAR\" \"$BASE/api/v1/customers/{customer}/requests\"; echo",
        "",
        "# 9. Sign out: a change made with the cookie, so it carries X-CSRF-Token.",
        f"{curl} -b \"$JAR\" -X POST \"$BASE/api/v1/auth/logout\" -H \"X-CSRF-Token: $CSRF\""
        " && echo 'signed out'",
    ])


def _text(world: dict[str, Any], base_url: str) -> str:
    lines = [f"demo logins (password '{DEMO_PASSWORD}'):"]
    for x in world["logins"]:
        label = "customer admin" if x["role"] == "admin" else "worker"
        lines.append(f"  {label + ':':16}{x['email']}  (member id {x['member_id']})")
    site, door, controller = world["site"], world["door"], world["controller"]
    lines += [
        f"customer id:    {world['customer_id']}",
        f"site id:        {site['id']}  ({site['name']}; fence {site['radius_m']} m around "
        f"{site['latitude']}, {site['longitude']})",
        f"door id:        {door['id']}  ({door['name']}; methods app, QR, PIN; Entry code "
        f"{door['entry_code']}, Exit code {door['exit_code']})",
    ]
    if door.get("pin_of_worker"):
        lines.append(f"worker's PIN:   {door['pin_of_worker']}  (shown once)")
    if controller:
        key = controller["key"] or "shown once, when seeded"
        lines.append(f"controller id:  {controller['id']}  (key: {key}; "
                     "send it as 'Authorization: Controller <key>')")
    lines += [
        f"guest:          {world['guest']['email']}  ({world['guest']['note']})",
        f"ticket id:      {world['ticket_id']}",
        f"request id:     {world['request_id']}  (rectification, waiting for the admin)",
        "",
        walkthrough(world, base_url),
    ]
    return "\n".join(lines)
