"""Door controllers: their keys, the signed credential list they poll, the unlock commands they
fetch and the passages they decided themselves (offline) and report."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from entryfy import clock, security
from entryfy.errors import Unprocessable, ValidationFailed
from entryfy.ops.auditing import record_change
from entryfy.ops.doors.credentials import (
    controller_credential_hash,
    controller_hash_key,
    credential_value,
)
from entryfy.ops.doors.decision import _passage, emit_access_event
from entryfy.ops.doors.vocabulary import (
    CONTROLLER_CLOCK_SKEW,
    CONTROLLER_EVENT_MAX_AGE,
    CONTROLLER_METHODS,
    CONTROLLER_ONLINE_WITHIN,
    KEYPAD_LOCKOUT_WINDOW,
    KEYPAD_WRONG_PIN_LIMIT,
    MAX_CONTROLLER_EVENTS,
)
from entryfy.ops.tenant import load_owned
from models import (
    Access,
    AccessDoor,
    AccessEvent,
    AccessMember,
    Controller,
    Customer,
    Door,
    DoorCredential,
    Membership,
    UnlockCommand,
)

CONTROLLER_KEY_PREFIX = "efc_"


def _iso(t: dt.datetime | None) -> str | None:
    return t.astimezone(dt.UTC).isoformat() if t is not None else None


def load_controller(session: Session, customer_id: uuid.UUID,
                    controller_id: uuid.UUID) -> Controller:
    return load_owned(session, Controller, customer_id, controller_id, "controller")


def create_controller(session: Session, *, customer_id: uuid.UUID, name: str,
                      by: Membership | None = None) -> tuple[Controller, str]:
    """A new door controller and its key (a credential issued: audited), which is returned
    once and stored as SHA-256."""
    key = CONTROLLER_KEY_PREFIX + secrets.token_urlsafe(32)
    c = Controller(id=uuid.uuid4(), customer_id=customer_id, name=name,
                   key_hash=security.sha256_hex(key), list_version=0)
    session.add(c)
    session.flush()
    record_change(session, by, "controller.create", customer_id=customer_id,
                  object_type="controller", object_id=c.id)
    return c, key


def update_controller(session: Session, c: Controller, changes: dict[str, Any], *,
                      by: Membership | None = None) -> Controller:
    if "name" in changes:
        c.name = changes["name"]
    session.flush()
    record_change(session, by, "controller.update", customer_id=c.customer_id,
                  object_type="controller", object_id=c.id)
    return c


def delete_controller(session: Session, c: Controller, *, by: Membership | None = None
                      ) -> None:
    """Retire a controller: its key stops working (a credential revoked: audited)."""
    customer_id, controller_id = c.customer_id, c.id
    session.delete(c)
    session.flush()
    record_change(session, by, "controller.delete", customer_id=customer_id,
                  object_type="controller", object_id=controller_id)


def controller_by_key(session: Session, key: str) -> Controller | None:
    """The controller holding ``key`` (any customer: the key is the credential)."""
    from models.tenancy import system_scope

    if not key.startswith(CONTROLLER_KEY_PREFIX) or len(key) > 200:
        return None
    with system_scope(session, "door controller authentication by its key"):
        c = session.scalar(select(Controller).where(
            Controller.key_hash == security.sha256_hex(key)))
        customer = session.get(Customer, c.customer_id) if c is not None else None
    if c is None or customer is None or customer.status == "ended":
        return None
    return c


def is_online(c: Controller, at: dt.datetime | None = None) -> bool:
    at = at or clock.now()
    return c.last_seen_at is not None and at - c.last_seen_at <= CONTROLLER_ONLINE_WITHIN


def seen(session: Session, c: Controller) -> None:
    now = clock.now()
    # One write per half minute is enough for "online": spare the row on busy polling.
    if c.last_seen_at is None or now - c.last_seen_at > dt.timedelta(seconds=30):
        c.last_seen_at = now
        c.offline_since = None  # the worker's offline check flags it again if it goes quiet
        session.flush()


def _signing_key() -> Ed25519PrivateKey:
    seed = bytes.fromhex(security.keys().keyed_hash("controller-list-signing", "ed25519-v1"))
    return Ed25519PrivateKey.from_private_bytes(seed)


def signing_public_key() -> str:
    """The public key controllers verify credential lists with (raw 32 bytes, base64url)."""
    raw = _signing_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw).decode()


def signing_key_id() -> str:
    return hashlib.sha256(signing_public_key().encode()).hexdigest()[:16]


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _list_content(session: Session, c: Controller, now: dt.datetime) -> dict[str, Any]:
    doors = list(session.scalars(
        select(Door).where(Door.controller_id == c.id, Door.customer_id == c.customer_id)
        .order_by(Door.id)))
    door_ids = {d.id for d in doors}
    rows = session.execute(
        select(Access, AccessDoor.door_id)
        .join(AccessDoor, AccessDoor.access_id == Access.id)
        .where(AccessDoor.door_id.in_(door_ids), Access.customer_id == c.customer_id,
               (Access.valid_to.is_(None)) | (Access.valid_to > now))
    ).all() if door_ids else []
    accesses: dict[uuid.UUID, Access] = {}
    access_doors: dict[uuid.UUID, set[uuid.UUID]] = {}
    for a, did in rows:
        if not set(a.methods or []) & set(CONTROLLER_METHODS):
            continue
        accesses[a.id] = a
        access_doors.setdefault(a.id, set()).add(did)
    tz = {d.id: d.site.timezone for d in doors}
    members = session.execute(
        select(AccessMember.access_id, Membership)
        .join(Membership, Membership.id == AccessMember.membership_id)
        .where(AccessMember.access_id.in_(list(accesses)), Membership.active.is_(True),
               (Membership.valid_to.is_(None)) | (Membership.valid_to > now))
    ).all() if accesses else []
    by_member: dict[uuid.UUID, tuple[Membership, set[uuid.UUID]]] = {}
    for aid, m in members:
        by_member.setdefault(m.id, (m, set()))[1].add(aid)
    creds = list(session.scalars(
        select(DoorCredential).where(
            DoorCredential.membership_id.in_(list(by_member)),
            DoorCredential.customer_id == c.customer_id,
            (DoorCredential.valid_to.is_(None)) | (DoorCredential.valid_to > now))
        .order_by(DoorCredential.value_hash)
    )) if by_member else []
    credentials = []
    for cred in creds:
        m, aids = by_member[cred.membership_id]
        # A PIN counts only for accesses of its own site (decide() holds the same rule).
        usable = sorted(str(a) for a in aids if cred.kind in (accesses[a].methods or [])
                        and (cred.kind != "pin" or accesses[a].site_id == cred.site_id))
        value = credential_value(cred) if usable else None
        if value is None:
            continue
        starts = [t for t in (cred.valid_from, m.valid_from) if t is not None]
        ends = [t for t in (cred.valid_to, m.valid_to) if t is not None]
        credentials.append({
            "kind": cred.kind, "hash": controller_credential_hash(c.id, cred.kind, value),
            "valid_from": _iso(max(starts)) if starts else None,
            "valid_to": _iso(min(ends)) if ends else None,
            "access_ids": usable,
        })
    credentials.sort(key=lambda x: (x["kind"], x["hash"]))
    return {
        "controller_id": str(c.id),
        "customer_id": str(c.customer_id),
        # This controller's own key: its hashes match no other controller's list.
        "hash": {"alg": "HMAC-SHA256", "input": "<kind>:<value>",
                 "key": controller_hash_key(c.id).hex()},
        # Keypad lockout, applied by the controller per keypad (door), reported in its
        # events as reason "wrong_pin" / "too_many_attempts".
        "lockout": {"wrong_pin_limit": KEYPAD_WRONG_PIN_LIMIT,
                    "window_seconds": int(KEYPAD_LOCKOUT_WINDOW.total_seconds())},
        "doors": [{"id": str(d.id), "name": d.name, "timezone": tz[d.id]} for d in doors],
        "accesses": [
            {"id": str(a.id), "door_ids": sorted(str(x) for x in access_doors[a.id]),
             "valid_from": _iso(a.valid_from), "valid_to": _iso(a.valid_to),
             "schedule": a.schedule, "methods": [m for m in a.methods
                                                 if m in CONTROLLER_METHODS]}
            for a in sorted(accesses.values(), key=lambda a: str(a.id))
        ],
        "credentials": credentials,
    }


def credential_list(session: Session, c: Controller, *, nonce: str) -> dict[str, Any]:
    """The signed, versioned list of credentials this controller may accept.

    ``version`` grows by one whenever the content differs from what this controller was last
    given (a digest is kept on the controller row). The payload is signed with Ed25519; it
    carries the controller's id and the ``nonce`` it sent, so a list captured earlier (or for
    another controller) fails ``verify_credential_list`` however valid its signature.
    """
    now = clock.now()
    if session.get_bind().dialect.name == "postgresql":
        # Two polls at once must not both bump the version from the same digest.
        session.execute(select(Controller.id).where(Controller.id == c.id).with_for_update())
        session.refresh(c)
    content = _list_content(session, c, now)
    digest = hashlib.sha256(_canonical(content).encode()).hexdigest()
    if digest != c.list_digest:
        c.list_version = (c.list_version or 0) + 1
        c.list_digest = digest
        session.flush()
    payload = {"format": 1, "version": c.list_version, "issued_at": _iso(now),
               "nonce": nonce, **content}
    text = _canonical(payload)
    signature = _signing_key().sign(text.encode())
    return {
        "alg": "Ed25519", "key_id": signing_key_id(), "version": c.list_version,
        "payload": text, "signature": base64.urlsafe_b64encode(signature).decode(),
    }


class ListRefused(ValueError):
    """A credential list the controller must not use."""


def verify_credential_list(document: dict[str, Any], public_key_b64: str, *,
                           controller_id: str, nonce: str, known_version: int = 0
                           ) -> dict[str, Any]:
    """What a controller does with GET /controller/credentials (reference implementation).

    1. verify the Ed25519 ``signature`` over the exact bytes of ``payload`` (UTF-8) with the
       public key it was given when it was enrolled;
    2. parse ``payload``; require its ``controller_id`` to be its own and its ``nonce`` the
       one it just sent (a replayed older answer carries an older nonce);
    3. require ``version`` >= the version it already holds (never roll back).
    Any failure: keep the list it has. Returns the payload.
    """
    try:
        key = Ed25519PublicKey.from_public_bytes(
            base64.urlsafe_b64decode(public_key_b64 + "=" * (-len(public_key_b64) % 4)))
        sig = base64.urlsafe_b64decode(document["signature"] + "=" *
                                       (-len(document["signature"]) % 4))
        key.verify(sig, document["payload"].encode())
    except (InvalidSignature, KeyError, TypeError, ValueError, AttributeError):
        raise ListRefused("bad signature") from None
    payload = json.loads(document["payload"])
    if payload.get("controller_id") != controller_id:
        raise ListRefused("list for another controller")
    if not hmac.compare_digest(str(payload.get("nonce", "")), nonce):
        raise ListRefused("stale list: not the answer to this request")
    if not isinstance(payload.get("version"), int) or payload["version"] < known_version:
        raise ListRefused("stale list: older than the one held")
    return payload


def pending_commands(session: Session, c: Controller) -> list[UnlockCommand]:
    """Unlock commands for this controller's doors not yet delivered nor expired; delivering
    marks them, so each unlock happens once."""
    now = clock.now()
    cmds = list(session.scalars(
        select(UnlockCommand).where(
            UnlockCommand.controller_id == c.id,
            UnlockCommand.customer_id == c.customer_id,
            UnlockCommand.delivered_at.is_(None),
            UnlockCommand.expires_at > now,
        ).order_by(UnlockCommand.created_at, UnlockCommand.id)
        .with_for_update(skip_locked=True)
    ))
    for cmd in cmds:
        cmd.delivered_at = now
    session.flush()
    return cmds


def _controller_hashes(session: Session, c: Controller, doors: dict[uuid.UUID, Door]
                       ) -> dict[tuple[str, str], DoorCredential]:
    """(kind, this controller's hash) -> credential, for the members with an access to its
    doors: the hash a controller reports is its own (``controller_credential_hash``)."""
    if not doors:
        return {}
    members = (select(AccessMember.membership_id)
               .join(AccessDoor, AccessDoor.access_id == AccessMember.access_id)
               .where(AccessDoor.door_id.in_(list(doors))))
    out = {}
    for cred in session.scalars(select(DoorCredential).where(
            DoorCredential.customer_id == c.customer_id,
            DoorCredential.membership_id.in_(members))):
        value = credential_value(cred)
        if value is not None:
            out[(cred.kind, controller_credential_hash(c.id, cred.kind, value))] = cred
    return out


@dataclasses.dataclass
class ControllerEventsResult:
    recorded: int
    duplicates: int


def record_controller_events(session: Session, c: Controller,
                             events: Sequence[dict[str, Any]]) -> ControllerEventsResult:
    """Passages the controller decided itself. Each carries the controller's own
    ``event_id``: a retried post records each passage once (a unique constraint decides).
    Every door must be one of this controller's; otherwise nothing is recorded (422)."""
    now = clock.now()
    if len(events) > MAX_CONTROLLER_EVENTS:
        raise ValidationFailed({"events": [f"At most {MAX_CONTROLLER_EVENTS} per post."]})
    doors = {d.id: d for d in session.scalars(
        select(Door).where(Door.controller_id == c.id, Door.customer_id == c.customer_id))}
    for i, e in enumerate(events):
        if e["door_id"] not in doors:
            raise Unprocessable(f"Event {i}: not a door of this controller.",
                                slug="not-this-controllers-door")
        if e["occurred_at"] > now + CONTROLLER_CLOCK_SKEW:
            raise Unprocessable(f"Event {i}: in the future; check the controller's clock.",
                                slug="event-in-future")
        if e["occurred_at"] < now - CONTROLLER_EVENT_MAX_AGE:
            raise Unprocessable(f"Event {i}: older than the access log keeps.",
                                slug="event-too-old")
    seen_ids = set(session.scalars(select(AccessEvent.controller_event_id).where(
        AccessEvent.controller_id == c.id,
        AccessEvent.controller_event_id.in_([e["event_id"] for e in events]))))
    by_hash = (_controller_hashes(session, c, doors)
               if any(e.get("credential_hash") for e in events) else {})
    recorded = duplicates = 0
    for e in events:
        if e["event_id"] in seen_ids:
            duplicates += 1
            continue
        membership = None
        if e.get("credential_hash"):
            cred = by_hash.get((e["method"], e["credential_hash"]))
            if cred is not None:
                membership = session.scalar(select(Membership).where(
                    Membership.id == cred.membership_id,
                    Membership.customer_id == c.customer_id))
        ev = AccessEvent(
            id=uuid.uuid4(), customer_id=c.customer_id, occurred_at=e["occurred_at"],
            door_id=e["door_id"], account_id=membership.account_id if membership else None,
            membership_id=membership.id if membership else None, method=e["method"],
            direction=e.get("direction"), outcome=e["outcome"], reason=e.get("reason"),
            source="controller", controller_id=c.id, controller_event_id=e["event_id"],
            recorded_at=now,
        )
        try:
            with session.begin_nested():
                session.add(ev)
                session.flush()
        except IntegrityError:
            duplicates += 1  # the same post, retried concurrently: the other one recorded it
            continue
        seen_ids.add(e["event_id"])
        recorded += 1
        emit_access_event(session, ev)
        if e["outcome"] == "granted" and membership is not None:
            _passage(session, doors[e["door_id"]], membership.account_id, e.get("direction"),
                     e["occurred_at"])
    session.flush()
    return ControllerEventsResult(recorded, duplicates)
