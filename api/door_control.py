"""Access control in depth: lockdowns and unlock-all, door alerts, remote unlock and the
controllers' offline policy. Business rules live in entryfy.ops.doors (lockdowns, alerts,
remote, offline_policy)."""

from __future__ import annotations

import uuid

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select

from api.access import ADMIN, ADMIN_OR_OPERATOR, DOOR_ALERT_ROLES, require_customer
from api.base import Blueprint, InSchema, OutSchema, PageArgs, keyset_page, page_schema
from entryfy.errors import NotFound
from entryfy.ops import doors as ops
from entryfy.ops.doors import lockdowns as lockdown_ops
from entryfy.ops.doors import offline_policy
from entryfy.ops.doors import remote as remote_ops
from entryfy.web import db_session
from models import Customer, DoorAlert, Lockdown
from models.vocab import ALERT_TYPES, LOCKDOWN_MODES

blp = Blueprint("door_control", __name__, url_prefix="/api/v1",
                description="Lockdowns, door alerts, remote unlock, offline policy")


# ------------------------------------------------------------------------------ schemas

class LockdownIn(InSchema):
    site_id = ma.fields.UUID(load_default=None, allow_none=True, metadata={
        "description": "The site whose doors it covers; left out: every site of the customer."})
    mode = ma.fields.String(required=True, validate=ma.validate.OneOf(LOCKDOWN_MODES),
                            metadata={"description": "lockdown: every door locked for all but "
                                      "the exempt roles; unlock_all: every door held open "
                                      "(evacuation).", "example": "lockdown"})
    exempt_roles = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(lockdown_ops.EXEMPTIBLE_ROLES)),
        load_default=list, validate=ma.validate.Length(max=10),
        metadata={"description": "Roles a lockdown still lets through (e.g. security staff).",
                  "example": ["operator"]})


class LockdownOut(OutSchema):
    id = ma.fields.UUID()
    site_id = ma.fields.UUID(allow_none=True)
    mode = ma.fields.String()
    exempt_roles = ma.fields.List(ma.fields.String())
    active = ma.fields.Function(lambda ld: ld.ended_at is None,
                                metadata={"description": "In force until ended (DELETE)."})
    created_at = ma.fields.DateTime()
    ended_at = ma.fields.DateTime(allow_none=True)


class LockdownFilter(PageArgs):
    active = ma.fields.Boolean(load_default=None, metadata={
        "description": "true: only those in force; false: only ended ones."})


class DoorAlertOut(OutSchema):
    id = ma.fields.UUID()
    type = ma.fields.String(metadata={"enum": list(ALERT_TYPES)})
    door_id = ma.fields.UUID(allow_none=True)
    controller_id = ma.fields.UUID(allow_none=True)
    occurred_at = ma.fields.DateTime()
    created_at = ma.fields.DateTime()


class DoorAlertFilter(PageArgs):
    type = ma.fields.String(load_default=None, validate=ma.validate.OneOf(ALERT_TYPES))
    door_id = ma.fields.UUID(load_default=None)
    controller_id = ma.fields.UUID(load_default=None)


class RemoteUnlockOut(OutSchema):
    id = ma.fields.UUID(metadata={"description": "The unlock command's id."})
    door_id = ma.fields.UUID()
    controller_id = ma.fields.UUID()
    event_id = ma.fields.UUID(metadata={"description": "The access event recording it."})
    expires_at = ma.fields.DateTime(metadata={
        "description": "Undelivered by then (the controller is offline), it lapses."})


class OfflinePolicy(OutSchema):
    trust_days = ma.fields.Integer(attribute="door_list_trust_days", metadata={
        "description": "Days a controller may decide from its last signed credential list; "
                       "then it refuses everything until it reaches the server."})


class OfflinePolicyIn(InSchema):
    trust_days = ma.fields.Integer(
        required=True, validate=ma.validate.Range(1, offline_policy.MAX_TRUST_DAYS),
        metadata={"example": 7})


# ------------------------------------------------------------------------------ lockdowns

@blp.route("/customers/<uuid:customer_id>/lockdowns")
class Lockdowns(MethodView):
    @blp.arguments(LockdownFilter, location="query")
    @blp.response(200, page_schema(LockdownOut, "LockdownPage"))
    def get(self, args, customer_id: uuid.UUID):
        """The customer's lockdowns and unlock-alls, newest first."""
        require_customer(customer_id, ADMIN_OR_OPERATOR)
        stmt = select(Lockdown).where(Lockdown.customer_id == customer_id)
        if args["active"] is not None:
            stmt = stmt.where(Lockdown.ended_at.is_(None) if args["active"]
                              else Lockdown.ended_at.is_not(None))
        return keyset_page(db_session(), stmt, [Lockdown.created_at, Lockdown.id],
                           limit=args["limit"], cursor=args["cursor"])

    @blp.arguments(LockdownIn)
    @blp.response(201, LockdownOut)
    @blp.problems("lockdown-active")
    def post(self, data, customer_id: uuid.UUID):
        """Lock every door of a site (or of the customer), or hold them all open.

        It overrides accesses and unlock schedules until ended, reaches the controllers at
        once (a command per door) and offline (their next credential list), and is audited.
        """
        me = require_customer(customer_id, ADMIN_OR_OPERATOR)
        return lockdown_ops.start_lockdown(db_session(), customer_id=customer_id, by=me,
                                           **data)


@blp.route("/customers/<uuid:customer_id>/lockdowns/<uuid:lockdown_id>", methods=["DELETE"])
@blp.response(204)
def end_lockdown(customer_id: uuid.UUID, lockdown_id: uuid.UUID):
    """End a lockdown or unlock-all: the doors follow their accesses and schedules again."""
    me = require_customer(customer_id, ADMIN_OR_OPERATOR)
    s = db_session()
    lockdown_ops.end_lockdown(s, lockdown_ops.load_lockdown(s, customer_id, lockdown_id), by=me)
    return ""


# ------------------------------------------------------------------------------ alerts

@blp.route("/customers/<uuid:customer_id>/door-alerts", methods=["GET"])
@blp.arguments(DoorAlertFilter, location="query")
@blp.response(200, page_schema(DoorAlertOut, "DoorAlertPage"))
def door_alerts(args, customer_id: uuid.UUID):
    """Doors forced or held open, tampered readers and silent controllers, newest first."""
    require_customer(customer_id, DOOR_ALERT_ROLES)
    stmt = select(DoorAlert).where(DoorAlert.customer_id == customer_id)
    for key, col in (("type", DoorAlert.type), ("door_id", DoorAlert.door_id),
                     ("controller_id", DoorAlert.controller_id)):
        if args[key]:
            stmt = stmt.where(col == args[key])
    return keyset_page(db_session(), stmt, [DoorAlert.occurred_at, DoorAlert.id],
                       limit=args["limit"], cursor=args["cursor"])


# ------------------------------------------------------------------------------ remote unlock

@blp.route("/customers/<uuid:customer_id>/doors/<uuid:door_id>/unlock", methods=["POST"])
@blp.response(202, RemoteUnlockOut)
@blp.problems("door-without-controller", "lockdown-active")
def remote_unlock(customer_id: uuid.UUID, door_id: uuid.UUID):
    """Unlock a door remotely: queued for its controller (delivered once, within 60 s),
    recorded as your access event and audited."""
    me = require_customer(customer_id, ADMIN_OR_OPERATOR)
    s = db_session()
    return remote_ops.remote_unlock(s, ops.load_door(s, customer_id, door_id), by=me)


# ------------------------------------------------------------------------------ offline policy

@blp.route("/customers/<uuid:customer_id>/door-offline-policy")
class OfflinePolicyView(MethodView):
    @blp.response(200, OfflinePolicy)
    def get(self, customer_id: uuid.UUID):
        """How long controllers may trust their credential list offline."""
        require_customer(customer_id, ADMIN)
        return _customer(customer_id)

    @blp.arguments(OfflinePolicyIn)
    @blp.response(200, OfflinePolicy)
    def put(self, data, customer_id: uuid.UUID):
        """Set the trust period (1 to 30 days); controllers get it with their next list."""
        me = require_customer(customer_id, ADMIN)
        return offline_policy.set_trust_days(db_session(), _customer(customer_id),
                                             data["trust_days"], by=me)


def _customer(customer_id: uuid.UUID) -> Customer:
    customer = db_session().get(Customer, customer_id)
    if customer is None:
        raise NotFound("No such customer.")
    return customer
