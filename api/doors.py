"""Doors: admins' doors, accesses, credentials and guests; the app's openings, its doors and
its own access events. Business rules live in entryfy.ops.doors.

A refused opening answers 403 ``{granted: false, reason, event_id}`` (problem+json) and is
still recorded: the refusal is the answer, not a failure, so the view asks the request's unit
of work (entryfy.web.keep_refusal) to commit the attempt's event although the answer is 4xx.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import marshmallow as ma
from flask import Response, request
from flask.views import MethodView
from sqlalchemy import select

from api.access import ADMIN, ADMIN_OR_OPERATOR, DOOR_HARDWARE, require_customer
from api.base import (
    Blueprint,
    InSchema,
    OutSchema,
    PageArgs,
    QuerySchema,
    SingleLine,
    keyset_page,
    page_schema,
)
from api.problems import PROBLEM_MIMETYPE, problem_response
from entryfy.auth import current_account_id
from entryfy.errors import Forbidden, NotFound, ValidationFailed
from entryfy.ops import customers as customer_ops
from entryfy.ops import door_refusals
from entryfy.ops import doors as ops
from entryfy.ops import names as name_ops
from entryfy.ops import signs as sign_ops
from entryfy.ops import sites as site_ops
from entryfy.ops.auditing import record_read
from entryfy.ops.doors import unlock_schedules as unlock_ops
from entryfy.web import db_session, keep_refusal
from models import Access, AccessEvent, Door, DoorCredential, Membership
from models.tenancy import CUSTOMER_ROWS_ONLY, scope_to
from models.vocab import ANTI_PASSBACK, LANGUAGES, MEMBER_ROLES, METHODS, OUTCOMES, CredentialKind

log = logging.getLogger(__name__)

blp = Blueprint("doors", __name__, url_prefix="/api/v1",
                description="Doors, accesses, guests and opening doors")

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
TIME = ma.validate.Range(min=EARLIEST, max=LATEST)
NAME = [ma.validate.Length(min=1, max=200), SingleLine()]


def _time(**kw: Any) -> ma.fields.AwareDateTime:
    return ma.fields.AwareDateTime(validate=TIME, **kw)


# ------------------------------------------------------------------------------ schemas

_UNLOCK_DOC = {"description": "When the door stands unlocked for everyone: weekly windows "
                               "{days, start, end} in the site's time zone, end after start "
                               "(no crossing of midnight), not overlapping. null: never.",
               "example": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00",
                            "end": "17:00"}]}
_HOLIDAYS_DOC = {"description": "Local dates (YYYY-MM-DD) the unlock schedule does not apply, "
                                "from a year back to five years ahead.",
                 "example": ["2026-12-24", "2026-12-25"]}
_FPI_DOC = {"description": "First-person-in: an unlock window unlocks the door only once an "
                           "authorised person has come in during it."}


class DoorIn(InSchema):
    name = ma.fields.String(required=True, validate=NAME)
    latitude = ma.fields.Float(load_default=None, allow_none=True,
                               validate=ma.validate.Range(-90, 90))
    longitude = ma.fields.Float(load_default=None, allow_none=True,
                                validate=ma.validate.Range(-180, 180))
    radius_m = ma.fields.Integer(load_default=None, allow_none=True,
                                 validate=ma.validate.Range(5, 5000))
    controller_id = ma.fields.UUID(load_default=None, allow_none=True)
    site_entrance = ma.fields.Boolean(load_default=False)
    # Checked by entryfy.ops.doors.unlock_schedules (422 with field messages).
    unlock_schedule = ma.fields.List(ma.fields.Raw(), load_default=None, allow_none=True,
                                     metadata=_UNLOCK_DOC)
    holidays = ma.fields.List(ma.fields.Raw(), load_default=None, allow_none=True,
                              metadata=_HOLIDAYS_DOC)
    first_person_in = ma.fields.Boolean(load_default=False, metadata=_FPI_DOC)


class DoorPatch(InSchema):
    name = ma.fields.String(validate=NAME)
    latitude = ma.fields.Float(allow_none=True, validate=ma.validate.Range(-90, 90))
    longitude = ma.fields.Float(allow_none=True, validate=ma.validate.Range(-180, 180))
    radius_m = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(5, 5000))
    controller_id = ma.fields.UUID(allow_none=True)
    site_entrance = ma.fields.Boolean()
    unlock_schedule = ma.fields.List(ma.fields.Raw(), allow_none=True, metadata=_UNLOCK_DOC)
    holidays = ma.fields.List(ma.fields.Raw(), allow_none=True, metadata=_HOLIDAYS_DOC)
    first_person_in = ma.fields.Boolean(metadata=_FPI_DOC)
    new_codes = ma.fields.Boolean(metadata={"description": "Draw new Entry/Exit codes (the "
                                                           "printed signs are replaced)."})


class DoorOut(OutSchema):
    id = ma.fields.UUID()
    site_id = ma.fields.UUID()
    name = ma.fields.String()
    latitude = ma.fields.Float(allow_none=True)
    longitude = ma.fields.Float(allow_none=True)
    radius_m = ma.fields.Integer(allow_none=True)
    controller_id = ma.fields.UUID(allow_none=True)
    site_entrance = ma.fields.Boolean()
    entry_code = ma.fields.String()
    exit_code = ma.fields.String()
    unlock_schedule = ma.fields.List(ma.fields.Nested(lambda: ScheduleWindow()),
                                     allow_none=True, metadata=_UNLOCK_DOC)
    holidays = ma.fields.List(ma.fields.String(), allow_none=True, metadata=_HOLIDAYS_DOC)
    first_person_in = ma.fields.Boolean(metadata=_FPI_DOC)
    unlocked_now = ma.fields.Function(
        lambda d: unlock_ops.unlocked_now(d),
        metadata={"description": "Whether the door stands unlocked for everyone now (its "
                                 "unlock schedule, or an unlock-all; a lockdown locks it)."})
    created_at = ma.fields.DateTime()


class ScheduleWindow(ma.Schema):
    days = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(ops.DAYS)))
    start = ma.fields.String(metadata={"example": "07:00"})
    end = ma.fields.String(metadata={"example": "17:00"})


_SCHEDULE_DOC = {"description": "Weekly windows in the site's time zone; end <= start "
                                "crosses midnight. null: at any time."}


_APB_DOC = {"description": "Anti-passback: entering a site again without having left is "
                           "off, soft (let in, logged) or hard (refused, reason "
                           "anti_passback). Resets at the site's local midnight.",
            "enum": list(ANTI_PASSBACK)}


class AccessIn(InSchema):
    name = ma.fields.String(required=True, validate=NAME)
    door_ids = ma.fields.List(ma.fields.UUID(), required=True,
                              validate=ma.validate.Length(min=1, max=1000))
    member_ids = ma.fields.List(ma.fields.UUID(), load_default=list,
                                validate=ma.validate.Length(max=20000))
    valid_from = _time(load_default=None, allow_none=True)
    valid_to = _time(load_default=None, allow_none=True)
    # Checked by entryfy.ops.doors.validate_schedule (field-level messages).
    schedule = ma.fields.List(ma.fields.Dict(), load_default=None, allow_none=True,
                              validate=ma.validate.Length(min=1, max=50),
                              metadata=_SCHEDULE_DOC)
    methods = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(METHODS)),
                             required=True,
                             validate=ma.validate.Length(min=1, max=len(METHODS)))
    anti_passback = ma.fields.String(load_default="off", validate=ma.validate.OneOf(ANTI_PASSBACK),
                                     metadata=_APB_DOC)
    anti_passback_exempt_roles = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(MEMBER_ROLES)), load_default=None,
        allow_none=True, metadata={"description": "Roles the anti-passback rule spares."})


class AccessPatch(InSchema):
    name = ma.fields.String(validate=NAME)
    door_ids = ma.fields.List(ma.fields.UUID(), validate=ma.validate.Length(min=1, max=1000))
    member_ids = ma.fields.List(ma.fields.UUID(), validate=ma.validate.Length(max=20000))
    valid_from = _time(allow_none=True)
    valid_to = _time(allow_none=True)
    schedule = ma.fields.List(ma.fields.Dict(), allow_none=True,
                              validate=ma.validate.Length(min=1, max=50),
                              metadata=_SCHEDULE_DOC)
    methods = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(METHODS)),
                             validate=ma.validate.Length(min=1, max=len(METHODS)))
    anti_passback = ma.fields.String(validate=ma.validate.OneOf(ANTI_PASSBACK),
                                     metadata=_APB_DOC)
    anti_passback_exempt_roles = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(MEMBER_ROLES)), allow_none=True,
        metadata={"description": "Roles the anti-passback rule spares."})


class AccessOut(OutSchema):
    id = ma.fields.UUID()
    name = ma.fields.String()
    site_id = ma.fields.UUID()
    door_ids = ma.fields.Function(lambda a: sorted(str(d.door_id) for d in a.doors))
    member_ids = ma.fields.Function(lambda a: sorted(str(m.membership_id) for m in a.members))
    valid_from = ma.fields.DateTime(allow_none=True)
    valid_to = ma.fields.DateTime(allow_none=True)
    schedule = ma.fields.List(ma.fields.Nested(ScheduleWindow), allow_none=True)
    methods = ma.fields.List(ma.fields.String())
    anti_passback = ma.fields.String(metadata=_APB_DOC)
    anti_passback_exempt_roles = ma.fields.List(ma.fields.String(), allow_none=True)
    guest = ma.fields.Boolean()
    created_at = ma.fields.DateTime()


class GuestIn(InSchema):
    email = ma.fields.Email(required=True, validate=ma.validate.Length(max=254))
    first_name = ma.fields.String(load_default=None,
                                  validate=[ma.validate.Length(1, 100), SingleLine()])
    last_name = ma.fields.String(load_default=None,
                                 validate=[ma.validate.Length(1, 100), SingleLine()])
    valid_from = _time(required=True)
    valid_to = _time(required=True)
    door_ids = ma.fields.List(ma.fields.UUID(), required=True,
                              validate=ma.validate.Length(min=1, max=200))


class GuestOut(OutSchema):
    id = ma.fields.UUID(metadata={"description": "The guest's membership id."})
    email = ma.fields.String()
    role = ma.fields.String()
    valid_from = ma.fields.DateTime()
    valid_to = ma.fields.DateTime()
    door_ids = ma.fields.List(ma.fields.UUID())
    access_ids = ma.fields.List(ma.fields.UUID())
    methods = ma.fields.List(ma.fields.String())


class CredentialIn(InSchema):
    member_id = ma.fields.UUID(required=True)
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(
        [CredentialKind.PIN.value, CredentialKind.KEYCARD.value]))
    value = ma.fields.String(load_default=None, validate=ma.validate.Length(1, 100),
                             metadata={"description": "The card number (keycard only). A PIN "
                                                      "is drawn and e-mailed to the member."})
    site_id = ma.fields.UUID(load_default=None, allow_none=True,
                             metadata={"description": "PIN only: the site whose doors it opens. "
                                       "May be left out when the member's accesses are at "
                                       "one site."})
    valid_from = _time(load_default=None, allow_none=True)
    valid_to = _time(load_default=None, allow_none=True)


class CredentialOut(OutSchema):
    id = ma.fields.UUID()
    member_id = ma.fields.UUID(attribute="membership_id")
    kind = ma.fields.String()
    site_id = ma.fields.UUID(allow_none=True)
    valid_from = ma.fields.DateTime(allow_none=True)
    valid_to = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()


class CredentialFilter(PageArgs):
    member_id = ma.fields.UUID(load_default=None)


class OpenIn(InSchema):
    latitude = ma.fields.Float(required=True, validate=ma.validate.Range(-90, 90))
    longitude = ma.fields.Float(required=True, validate=ma.validate.Range(-180, 180))
    accuracy_m = ma.fields.Float(load_default=None, allow_none=True,
                                 validate=ma.validate.Range(0, 100000))
    pin = ma.fields.String(load_default=None, load_only=True,
                           validate=ma.validate.Regexp(r"^[0-9]{4,12}$"))


class ScanIn(OpenIn):
    code = ma.fields.String(required=True, validate=ma.validate.Length(8, 64))


class DoorGranted(OutSchema):
    granted = ma.fields.Boolean()
    event_id = ma.fields.UUID()
    door_id = ma.fields.UUID()
    method = ma.fields.String()
    direction = ma.fields.String(allow_none=True)


class DoorRefused(OutSchema):
    type = ma.fields.String()
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    granted = ma.fields.Boolean()
    reason = ma.fields.String(metadata={"enum": list(ops.REASONS)})
    event_id = ma.fields.UUID()
    door_id = ma.fields.UUID()
    direction = ma.fields.String(allow_none=True)
    distance_m = ma.fields.Integer(metadata={
        "description": "outside_geofence only: metres from the door."})
    radius_m = ma.fields.Integer(metadata={
        "description": "outside_geofence only: how near the phone must be."})


class MyDoorOut(OutSchema):
    door_id = ma.fields.UUID()
    name = ma.fields.String()
    site_id = ma.fields.UUID()
    customer_id = ma.fields.UUID()
    methods = ma.fields.List(ma.fields.String())
    open_now = ma.fields.Boolean()


class MyDoors(OutSchema):
    items = ma.fields.List(ma.fields.Nested(MyDoorOut))


class AccessEventOut(OutSchema):
    id = ma.fields.UUID()
    occurred_at = ma.fields.DateTime()
    customer_id = ma.fields.UUID()
    door_id = ma.fields.UUID(allow_none=True)
    member_id = ma.fields.UUID(attribute="membership_id", allow_none=True)
    method = ma.fields.String(allow_none=True)
    direction = ma.fields.String(allow_none=True)
    outcome = ma.fields.String()
    reason = ma.fields.String(allow_none=True)
    source = ma.fields.String()
    controller_id = ma.fields.UUID(allow_none=True)


class AdminAccessEventOut(AccessEventOut):
    person_name = ma.fields.String(allow_none=True)
    door_name = ma.fields.String(allow_none=True)


class AccessEventFilter(PageArgs):
    door_id = ma.fields.UUID(load_default=None)
    member_id = ma.fields.UUID(load_default=None)
    outcome = ma.fields.String(load_default=None,
                               validate=ma.validate.OneOf(OUTCOMES))
    from_ = _time(data_key="from", load_default=None)
    to = _time(load_default=None)


# ------------------------------------------------------------------------------ admin: doors

@blp.route("/customers/<uuid:customer_id>/sites/<uuid:site_id>/doors")
class SiteDoors(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(DoorOut, "DoorPage"))
    def get(self, args, customer_id: uuid.UUID, site_id: uuid.UUID):
        """The site's doors."""
        require_customer(customer_id, DOOR_HARDWARE)
        s = db_session()
        site = site_ops.get_site(s, customer_id, site_id)
        stmt = select(Door).where(Door.customer_id == customer_id, Door.site_id == site.id)
        return keyset_page(s, stmt, [Door.created_at, Door.id], limit=args["limit"],
                           cursor=args["cursor"], descending=False)

    @blp.arguments(DoorIn)
    @blp.response(201, DoorOut)
    def post(self, data, customer_id: uuid.UUID, site_id: uuid.UUID):
        """Add a door; its printed Entry and Exit codes are drawn here."""
        me = require_customer(customer_id, DOOR_HARDWARE)
        s = db_session()
        site = site_ops.get_site(s, customer_id, site_id)
        return ops.create_door(s, site=site, **data, by=me)


@blp.route("/customers/<uuid:customer_id>/doors/<uuid:door_id>")
class OneDoor(MethodView):
    @blp.response(200, DoorOut)
    def get(self, customer_id: uuid.UUID, door_id: uuid.UUID):
        """One door.

        Its position, fence, controller, unlock schedule and printed Entry and Exit codes.
        """
        require_customer(customer_id, DOOR_HARDWARE)
        return ops.load_door(db_session(), customer_id, door_id)

    @blp.arguments(DoorPatch)
    @blp.response(200, DoorOut)
    def patch(self, data, customer_id: uuid.UUID, door_id: uuid.UUID):
        """Change a door.

        Name, position, fence radius, controller, whether it is a site entrance, its unlock
        schedule and holidays. Only the fields sent change.
        """
        me = require_customer(customer_id, DOOR_HARDWARE)
        s = db_session()
        return ops.update_door(s, ops.load_door(s, customer_id, door_id), data, by=me)

    @blp.response(204)
    def delete(self, customer_id: uuid.UUID, door_id: uuid.UUID):
        """Remove a door; its access events stay (without the door)."""
        me = require_customer(customer_id, DOOR_HARDWARE)
        s = db_session()
        ops.delete_door(s, ops.load_door(s, customer_id, door_id), by=me)
        return ""


class SignArgs(QuerySchema):
    format = ma.fields.String(load_default="svg",
                              validate=ma.validate.OneOf(list(sign_ops.FORMATS)))
    lang = ma.fields.String(load_default=None, validate=ma.validate.OneOf(LANGUAGES),
                            metadata={"description": "Label language; default from "
                                                     "Accept-Language (sv or en)."})


SIGN_ROLES = DOOR_HARDWARE


@blp.route("/customers/<uuid:customer_id>/doors/<uuid:door_id>/sign", methods=["GET"])
@blp.arguments(SignArgs, location="query")
@blp.response(200, description="The sign: image/svg+xml, image/png or application/pdf.")
def door_sign(args, customer_id: uuid.UUID, door_id: uuid.UUID):
    """A printable A4 door sign with the door's Entry and Exit codes as QR codes
    (`format=svg|png|pdf`). Drawing new codes (PATCH `new_codes`) makes old signs useless."""
    require_customer(customer_id, SIGN_ROLES)
    s = db_session()
    door = ops.load_door(s, customer_id, door_id)
    site = site_ops.get_site(s, customer_id, door.site_id)
    lang = args["lang"] or (request.accept_languages.best_match(LANGUAGES) or "en")
    sign = sign_ops.door_sign(door, site, args["format"], lang)
    return Response(sign.body, mimetype=sign.mimetype, headers={
        "Content-Disposition": f'inline; filename="{sign.filename}"',
        "Cache-Control": "private, no-store"})


# ------------------------------------------------------------------------------ accesses

@blp.route("/customers/<uuid:customer_id>/accesses")
class Accesses(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(AccessOut, "AccessPage"))
    def get(self, args, customer_id: uuid.UUID):
        """The customer's accesses.

        Who may open which doors, when and how.
        """
        require_customer(customer_id, ADMIN)
        stmt = select(Access).where(Access.customer_id == customer_id)
        return keyset_page(db_session(), stmt, [Access.created_at, Access.id],
                           limit=args["limit"], cursor=args["cursor"], descending=False)

    @blp.arguments(AccessIn)
    @blp.response(201, AccessOut)
    @blp.problems("door-not-found", "member-not-found", "doors-of-several-sites")
    def post(self, data, customer_id: uuid.UUID):
        """Give people access to doors.

        Doors of one site, members, methods (app, QR, PIN, keycard, with or without PIN),
        validity and an optional weekly schedule in the site's time zone.
        """
        me = require_customer(customer_id, ADMIN)
        return ops.create_access(db_session(), customer_id=customer_id, **data, by=me)


@blp.route("/customers/<uuid:customer_id>/accesses/<uuid:access_id>")
class OneAccess(MethodView):
    @blp.response(200, AccessOut)
    def get(self, customer_id: uuid.UUID, access_id: uuid.UUID):
        """One access.

        Its doors, members, methods, validity and schedule.
        """
        require_customer(customer_id, ADMIN)
        return ops.load_access(db_session(), customer_id, access_id)

    @blp.arguments(AccessPatch)
    @blp.response(200, AccessOut)
    @blp.problems("door-not-found", "member-not-found", "doors-of-several-sites")
    def patch(self, data, customer_id: uuid.UUID, access_id: uuid.UUID):
        """Change an access.

        Only the fields sent change; the door controllers get a new credential list.
        """
        me = require_customer(customer_id, ADMIN)
        s = db_session()
        return ops.update_access(s, ops.load_access(s, customer_id, access_id), data, by=me)

    @blp.response(204)
    def delete(self, customer_id: uuid.UUID, access_id: uuid.UUID):
        """Remove an access.

        Its people can no longer open its doors by it; past access events stay.
        """
        me = require_customer(customer_id, ADMIN)
        s = db_session()
        ops.delete_access(s, ops.load_access(s, customer_id, access_id), by=me)
        return ""


# ------------------------------------------------------------------------------ guests

@blp.route("/customers/<uuid:customer_id>/guests", methods=["POST"])
@blp.arguments(GuestIn)
@blp.response(201, GuestOut)
@blp.problems("guest-window-past", "guest-window-too-long", "already-member", "door-not-found")
def invite_guest(data, customer_id: uuid.UUID):
    """Invite a short-term guest: a PIN and a QR code go to them by e-mail (no app needed)."""
    me = require_customer(customer_id, ADMIN_OR_OPERATOR)
    s = db_session()
    inv = ops.invite_guest(s, customer_id=customer_id, email=data["email"],
                           first_name=data.get("first_name"), valid_from=data["valid_from"],
                           valid_to=data["valid_to"], door_ids=data["door_ids"],
                           invited_by=me.account_id, by=me)
    m = inv.membership
    return {
        "id": m.id, "email": data["email"].strip().lower(), "role": m.role,
        "valid_from": m.valid_from, "valid_to": m.valid_to,
        "door_ids": sorted({d.door_id for a in inv.accesses for d in a.doors}, key=str),
        "access_ids": [a.id for a in inv.accesses], "methods": list(ops.GUEST_METHODS),
    }


# ------------------------------------------------------------------------------ credentials

@blp.route("/customers/<uuid:customer_id>/credentials")
class Credentials(MethodView):
    @blp.arguments(CredentialFilter, location="query")
    @blp.response(200, page_schema(CredentialOut, "CredentialPage"))
    def get(self, args, customer_id: uuid.UUID):
        """Members' PINs and keycards (never their values)."""
        require_customer(customer_id, ADMIN)
        stmt = select(DoorCredential).where(DoorCredential.customer_id == customer_id,
                                            DoorCredential.kind != "qr")
        if args["member_id"]:
            stmt = stmt.where(DoorCredential.membership_id == args["member_id"])
        return keyset_page(db_session(), stmt, [DoorCredential.created_at, DoorCredential.id],
                           limit=args["limit"], cursor=args["cursor"])

    @blp.arguments(CredentialIn)
    @blp.response(201, CredentialOut)
    @blp.problems("keycard-taken", "member-pending", "pin-space-exhausted")
    def post(self, data, customer_id: uuid.UUID):
        """Enrol a keycard, or draw a PIN that is e-mailed to the member."""
        me = require_customer(customer_id, ADMIN)
        s = db_session()
        member = customer_ops.get_member(s, customer_id, data["member_id"])
        ops.check_validity(data["valid_from"], data["valid_to"])
        if data["kind"] == "keycard":
            if not data["value"]:
                raise ValidationFailed({"value": ["The card number is required."]})
            if data["site_id"]:
                raise ValidationFailed({"site_id": ["A keycard opens doors at any site of "
                                                    "its accesses; site_id is for PINs."]})
            cred = ops.add_keycard(s, member, data["value"], valid_from=data["valid_from"],
                                   valid_to=data["valid_to"], by=me)
        else:
            if data["value"]:
                raise ValidationFailed({"value": ["PINs are drawn, never chosen."]})
            cred = ops.issue_member_pin(s, member, site_id=data["site_id"], by=me)
        return cred


@blp.route("/customers/<uuid:customer_id>/credentials/<uuid:credential_id>",
           methods=["DELETE"])
@blp.response(204)
def revoke_credential(customer_id: uuid.UUID, credential_id: uuid.UUID):
    """Revoke a PIN or keycard.

    It stops working at the next credential list the controllers fetch.
    """
    me = require_customer(customer_id, ADMIN)
    s = db_session()
    ops.revoke_credential(s, ops.load_credential(s, customer_id, credential_id), by=me)
    return ""


# ------------------------------------------------------------------------------ events

def _event_page(stmt, args):
    if args.get("from_"):
        stmt = stmt.where(AccessEvent.occurred_at >= args["from_"])
    if args.get("to"):
        stmt = stmt.where(AccessEvent.occurred_at < args["to"])
    return keyset_page(db_session(), stmt, [AccessEvent.occurred_at, AccessEvent.id],
                       limit=args["limit"], cursor=args["cursor"])


@blp.route("/customers/<uuid:customer_id>/access-events", methods=["GET"])
@blp.arguments(AccessEventFilter, location="query")
@blp.response(200, page_schema(AdminAccessEventOut, "AccessEventPage"))
def customer_events(args, customer_id: uuid.UUID):
    """Every attempt at the customer's doors, newest first."""
    me = require_customer(customer_id, ADMIN_OR_OPERATOR)
    stmt = select(AccessEvent).where(AccessEvent.customer_id == customer_id).execution_options(
        **CUSTOMER_ROWS_ONLY)
    if args["door_id"]:
        stmt = stmt.where(AccessEvent.door_id == args["door_id"])
    if args["member_id"]:
        stmt = stmt.where(AccessEvent.membership_id == args["member_id"])
    if args["outcome"]:
        stmt = stmt.where(AccessEvent.outcome == args["outcome"])
    page = _event_page(stmt, args)
    s = db_session()
    people = name_ops.person_names(s, (e.account_id for e in page["items"]))
    door_names = name_ops.door_names(s, (e.door_id for e in page["items"]))
    for e in page["items"]:
        # Transient attributes for the schema; the rows themselves are not changed.
        e.person_name = people.get(e.account_id)
        e.door_name = door_names.get(e.door_id)
    record_read(s, me, "access_events.read", customer_id=customer_id,
                object_type="access_events")
    return page


@blp.route("/me/access-events", methods=["GET"])
@blp.arguments(AccessEventFilter, location="query")
@blp.response(200, page_schema(AccessEventOut, "MyAccessEventPage"))
def my_events(args):
    """The signed-in person's own attempts, in every customer, newest first."""
    stmt = select(AccessEvent).where(AccessEvent.account_id == current_account_id())
    for key, col in (("door_id", AccessEvent.door_id), ("outcome", AccessEvent.outcome),
                     ("member_id", AccessEvent.membership_id)):
        if args[key]:
            stmt = stmt.where(col == args[key])
    return _event_page(stmt, args)


# ------------------------------------------------------------------------------ the app

@blp.route("/me/doors", methods=["GET"])
@blp.response(200, MyDoors)
def my_doors():
    """The doors the person may open, with the methods, and whether they may right now."""
    s = db_session()
    memberships = ops.memberships_of(s, current_account_id())
    scope_to(s, *{m.customer_id for m in memberships})
    return {"items": [
        {"door_id": d.door.id, "name": d.door.name, "site_id": d.door.site_id,
         "customer_id": d.door.customer_id, "methods": [m for m in METHODS if m in d.methods],
         "open_now": d.open_now}
        for d in ops.doors_for(s, memberships)
    ]}


def _attempt(door: Door, memberships: list[Membership], data: dict[str, Any], channel: str,
             direction: str | None) -> Any:
    s = db_session()
    membership = next(m for m in memberships if m.customer_id == door.customer_id)
    position = ops.Position(data["latitude"], data["longitude"], data.get("accuracy_m"))
    decision, event = ops.attempt(s, membership=membership, door=door, channel=channel,
                                  direction=direction, pin=data.get("pin"), position=position)
    if decision.granted:
        return {"granted": True, "event_id": event.id, "door_id": door.id,
                "method": decision.method, "direction": direction}
    keep_refusal()
    return problem_response(Forbidden(
        door_refusals.detail(decision), slug="door-refused", title="Door not opened",
        granted=False, reason=decision.reason, event_id=str(event.id), door_id=str(door.id),
        direction=direction, distance_m=decision.distance_m, radius_m=decision.radius_m,
    ))


def _scoped_memberships() -> list[Membership]:
    """The person's memberships; the session sees exactly those customers' doors."""
    s = db_session()
    memberships = ops.memberships_of(s, current_account_id())
    scope_to(s, *{m.customer_id for m in memberships})
    return memberships


@blp.route("/doors/<uuid:door_id>/open", methods=["POST"])
@blp.arguments(OpenIn)
@blp.response(200, DoorGranted)
@blp.alt_response(403, schema=DoorRefused, content_type=PROBLEM_MIMETYPE,
                  description="DoorRefused; the attempt is recorded")
@blp.problems("door-refused")
def open_door(data, door_id: uuid.UUID):
    """Open a door from the app. Every attempt is recorded, granted or refused."""
    found = ops.door_opening(db_session(), current_account_id(), door_id)
    if found is None:
        raise NotFound("No such door.")
    door, membership = found
    return _attempt(door, [membership], data, "app", None)


@blp.route("/doors/scan", methods=["POST"])
@blp.arguments(ScanIn)
@blp.response(200, DoorGranted)
@blp.alt_response(403, schema=DoorRefused, content_type=PROBLEM_MIMETYPE,
                  description="DoorRefused; the attempt is recorded")
@blp.problems("door-refused")
def scan_door(data):
    """The app scanned a door's printed Entry ("in") or Exit ("out") code."""
    memberships = _scoped_memberships()
    found = ops.door_by_code(db_session(), data["code"])
    if found is None:
        raise NotFound("No such door.")
    door, direction = found
    return _attempt(door, memberships, data, "scan", direction)
