"""Administering doors and accesses: create, change, delete, load (audited in the operation)."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from entryfy import clock
from entryfy.errors import NotFound, Unprocessable, ValidationFailed
from entryfy.ops.auditing import record_change
from entryfy.ops.doors.schedules import check_validity, validate_schedule
from entryfy.ops.tenant import load_owned
from models import (
    Access,
    AccessDoor,
    AccessMember,
    Controller,
    Door,
    Membership,
    Site,
)
from models.doors import METHODS


def new_door_code() -> str:
    """The content of a printed Entry/Exit QR sign: 144 random bits, URL-safe."""
    return secrets.token_urlsafe(18)


def create_door(session: Session, *, site: Site, name: str, latitude: float | None = None,
                longitude: float | None = None, radius_m: int | None = None,
                controller_id: uuid.UUID | None = None, site_entrance: bool = False,
                by: Membership | None = None) -> Door:
    if (latitude is None) != (longitude is None):
        raise ValidationFailed({"latitude": ["Give both latitude and longitude, or neither."]})
    if controller_id is not None:
        load_owned(session, Controller, site.customer_id, controller_id, "controller")
    door = Door(id=uuid.uuid4(), customer_id=site.customer_id, site_id=site.id, name=name,
                latitude=latitude, longitude=longitude, radius_m=radius_m,
                controller_id=controller_id, site_entrance=site_entrance,
                entry_code=new_door_code(), exit_code=new_door_code())
    session.add(door)
    session.flush()
    record_change(session, by, "door.create", customer_id=door.customer_id,
                  object_type="door", object_id=door.id)
    return door


def update_door(session: Session, door: Door, changes: dict[str, Any], *,
                by: Membership | None = None) -> Door:
    if "controller_id" in changes and changes["controller_id"] is not None:
        load_owned(session, Controller, door.customer_id, changes["controller_id"], "controller")
    lat = changes.get("latitude", door.latitude)
    lon = changes.get("longitude", door.longitude)
    if (lat is None) != (lon is None):
        raise ValidationFailed({"latitude": ["Give both latitude and longitude, or neither."]})
    for key in ("name", "latitude", "longitude", "radius_m", "controller_id", "site_entrance"):
        if key in changes:
            setattr(door, key, changes[key])
    if changes.get("new_codes"):
        # Reprinting the signs: the old codes stop working at once.
        door.entry_code, door.exit_code = new_door_code(), new_door_code()
    session.flush()
    if set(changes) - {"new_codes"}:
        record_change(session, by, "door.update", customer_id=door.customer_id,
                      object_type="door", object_id=door.id)
    if changes.get("new_codes"):
        record_change(session, by, "door.codes_reprinted", customer_id=door.customer_id,
                      object_type="door", object_id=door.id)
    return door


def delete_door(session: Session, door: Door, *, by: Membership | None = None) -> None:
    """Remove a door; its access events stay (without the door)."""
    customer_id, door_id = door.customer_id, door.id
    session.delete(door)
    session.flush()
    record_change(session, by, "door.delete", customer_id=customer_id, object_type="door",
                  object_id=door_id)


def load_door(session: Session, customer_id: uuid.UUID, door_id: uuid.UUID) -> Door:
    return load_owned(session, Door, customer_id, door_id, "door")


# ------------------------------------------------------------------------------ accesses

def _methods(methods: Iterable[str]) -> list[str]:
    ms = list(dict.fromkeys(methods))
    bad = [m for m in ms if m not in METHODS]
    if not ms or bad:
        raise ValidationFailed({"methods": [f"One or more of {', '.join(METHODS)}."]})
    return [m for m in METHODS if m in ms]


def _doors_of_one_site(session: Session, customer_id: uuid.UUID,
                       door_ids: Sequence[uuid.UUID]) -> list[Door]:
    ids = list(dict.fromkeys(door_ids))
    if not ids:
        raise ValidationFailed({"door_ids": ["At least one door."]})
    doors = list(session.scalars(
        select(Door).where(Door.id.in_(ids), Door.customer_id == customer_id)
    ))
    if len(doors) != len(ids):
        raise NotFound("No such door.", slug="door-not-found")
    if len({d.site_id for d in doors}) != 1:
        raise Unprocessable("An access covers doors of one site.", slug="doors-of-several-sites")
    return doors


def _memberships(session: Session, customer_id: uuid.UUID,
                 member_ids: Sequence[uuid.UUID]) -> list[Membership]:
    ids = list(dict.fromkeys(member_ids))
    found = list(session.scalars(
        select(Membership).where(Membership.id.in_(ids), Membership.customer_id == customer_id)
    )) if ids else []
    if len(found) != len(ids):
        raise NotFound("No such member.", slug="member-not-found")
    return found


def create_access(session: Session, *, customer_id: uuid.UUID, name: str,
                  door_ids: Sequence[uuid.UUID], member_ids: Sequence[uuid.UUID],
                  methods: Sequence[str], valid_from: dt.datetime | None = None,
                  valid_to: dt.datetime | None = None,
                  schedule: list[dict[str, Any]] | None = None, guest: bool = False,
                  by: Membership | None = None) -> Access:
    check_validity(valid_from, valid_to)
    schedule = validate_schedule(schedule)
    methods = _methods(methods)
    doors = _doors_of_one_site(session, customer_id, door_ids)
    members = _memberships(session, customer_id, member_ids)
    access = Access(id=uuid.uuid4(), customer_id=customer_id, site_id=doors[0].site_id,
                    name=name, valid_from=valid_from, valid_to=valid_to, schedule=schedule,
                    methods=methods, guest=guest, updated_at=clock.now())
    access.doors = [AccessDoor(customer_id=customer_id, door_id=d.id) for d in doors]
    access.members = [AccessMember(customer_id=customer_id, membership_id=m.id)
                      for m in members]
    session.add(access)
    session.flush()
    record_change(session, by, "access.create", customer_id=customer_id,
                  object_type="access", object_id=access.id)
    for m in members:
        _member_event(session, by, "access.member_added", access, m)
    return access


def _member_event(session: Session, by: Membership | None, action: str, access: Access,
                  m: Membership) -> None:
    record_change(session, by, action, customer_id=access.customer_id, object_type="access",
                  object_id=access.id, subject_id=m.account_id)


def update_access(session: Session, access: Access, changes: dict[str, Any], *,
                  by: Membership | None = None) -> Access:
    valid_from = changes.get("valid_from", access.valid_from)
    valid_to = changes.get("valid_to", access.valid_to)
    check_validity(valid_from, valid_to)
    if "schedule" in changes:
        access.schedule = validate_schedule(changes["schedule"])
    if "methods" in changes:
        access.methods = _methods(changes["methods"])
    if "door_ids" in changes:
        doors = _doors_of_one_site(session, access.customer_id, changes["door_ids"])
        access.site_id = doors[0].site_id
        access.doors = [AccessDoor(customer_id=access.customer_id, door_id=d.id)
                        for d in doors]
    added: list[Membership] = []
    removed: list[Membership] = []
    if "member_ids" in changes:
        members = _memberships(session, access.customer_id, changes["member_ids"])
        before = {am.membership_id for am in access.members}
        after = {m.id for m in members}
        added = [m for m in members if m.id not in before]
        removed = _memberships(session, access.customer_id, sorted(before - after, key=str))
        access.members = [AccessMember(customer_id=access.customer_id, membership_id=m.id)
                          for m in members]
    for key in ("name", "valid_from", "valid_to"):
        if key in changes:
            setattr(access, key, changes[key])
    access.updated_at = clock.now()
    session.flush()
    record_change(session, by, "access.update", customer_id=access.customer_id,
                  object_type="access", object_id=access.id)
    for m in added:
        _member_event(session, by, "access.member_added", access, m)
    for m in removed:
        _member_event(session, by, "access.member_removed", access, m)
    return access


def delete_access(session: Session, access: Access, *, by: Membership | None = None) -> None:
    customer_id, access_id = access.customer_id, access.id
    session.delete(access)
    session.flush()
    record_change(session, by, "access.delete", customer_id=customer_id,
                  object_type="access", object_id=access_id)


def load_access(session: Session, customer_id: uuid.UUID, access_id: uuid.UUID) -> Access:
    return load_owned(session, Access, customer_id, access_id, "access")
