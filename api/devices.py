"""The signed-in person's devices: list them, sign one out (revoke every token it holds)."""

from __future__ import annotations

import uuid

import marshmallow as ma

from api.base import Blueprint, OutSchema
from entryfy.auth import current_account, current_token_id
from entryfy.ops import devices as ops
from entryfy.web import db_session
from models import AccessToken

blp = Blueprint("devices", __name__, url_prefix="/api/v1/me/devices",
                description="The person's own devices")


class DeviceOut(OutSchema):
    id = ma.fields.UUID()
    name = ma.fields.String(allow_none=True)
    platform = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
    last_seen_at = ma.fields.DateTime(allow_none=True)
    active = ma.fields.Boolean()  # signed in: at least one live token
    current = ma.fields.Boolean()  # the device this request comes from


@blp.route("", methods=["GET"])
@blp.response(200, DeviceOut(many=True))
def list_devices():
    """Every device the person has signed in from (the device id itself is never stored)."""
    account = current_account()
    s = db_session()
    token_id = current_token_id()
    token = s.get(AccessToken, token_id) if token_id else None
    here = token.device_id if token is not None else None
    return [
        {"id": v.device.id, "name": v.device.name, "platform": v.device.platform,
         "created_at": v.device.created_at, "last_seen_at": v.device.last_seen_at,
         "active": v.active, "current": v.device.id == here}
        for v in ops.list_devices(s, account)
    ]


@blp.route("/<uuid:device_id>", methods=["DELETE"])
@blp.response(204)
def revoke_device(device_id: uuid.UUID):
    """Sign the device out: every token issued to it stops working at once."""
    ops.revoke_device(db_session(), current_account(), device_id)
    return ""
