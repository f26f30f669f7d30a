"""Door controllers: admins manage them; the hardware itself authenticates with its own key
(``Authorization: Controller <key>``, never a person's sign-in) to fetch its signed credential
list and its unlock commands, and to post the passages it decided itself.

How a controller verifies its list (reference: entryfy.ops.doors.verify_credential_list):
it sends a fresh random ``nonce`` with every GET /controller/credentials, checks the Ed25519
``signature`` over the exact UTF-8 bytes of ``payload`` with the public key it got at
enrolment (``signing_public_key``), then requires the payload's ``controller_id`` to be its
own, its ``nonce`` to be the one just sent and its ``version`` not to be lower than the one
it holds. Anything else, and it keeps its current list.
"""

from __future__ import annotations

import datetime as dt
import uuid

import marshmallow as ma
from flask import g, request
from flask.views import MethodView
from sqlalchemy import select

from api.access import DOOR_HARDWARE, require_customer
from api.base import Blueprint, InSchema, OutSchema, PageArgs, QuerySchema, keyset_page, page_schema
from entryfy.errors import Unauthorized, Unprocessable
from entryfy.ops import doors as ops
from entryfy.ops.doors.alerts import CONTROLLER_ALERTS
from entryfy.web import db_session, keep_refusal
from models import Controller
from models.tenancy import TenantContext, set_context
from models.vocab import DIRECTIONS, OUTCOMES

blp = Blueprint("controller", __name__, url_prefix="/api/v1",
                description="Door controllers (hardware with its own key)")

_TIME = ma.validate.Range(min=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
                          max=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))


# Controllers authenticate with their own key, not a person's session or token.
CONTROLLER_SECURITY: list[dict[str, list[str]]] = [{"controllerKey": []}]


def require_controller() -> Controller:
    """The controller whose key the request carries; the session sees only its customer."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "controller" or not key.strip():
        raise Unauthorized("A door controller's key is required.", slug="controller-key-required")
    s = db_session()
    c = ops.controller_by_key(s, key.strip())
    if c is None:
        raise Unauthorized("Unknown controller key.", slug="controller-key-invalid")
    set_context(s, TenantContext(customer_ids=frozenset({c.customer_id})))
    ops.seen(s, c)
    return c


HARDWARE_ENDPOINTS = {"controller.credentials", "controller.commands", "controller.events"}


@blp.before_request
def _authenticate_hardware() -> None:
    # The key is checked before the body or the query: an unknown caller learns nothing
    # about what a valid request would look like.
    if request.endpoint in HARDWARE_ENDPOINTS:
        g.controller = require_controller()


# ------------------------------------------------------------------------------ schemas

class ControllerIn(InSchema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 200))


class ControllerPatch(InSchema):
    name = ma.fields.String(validate=ma.validate.Length(1, 200))


class ControllerOut(OutSchema):
    id = ma.fields.UUID()
    name = ma.fields.String()
    last_seen_at = ma.fields.DateTime(allow_none=True)
    online = ma.fields.Function(lambda c: ops.is_online(c))
    list_version = ma.fields.Integer()
    last_sync_at = ma.fields.DateTime(attribute="last_list_at", allow_none=True, metadata={
        "description": "When it last fetched its credential list."})
    signing_public_key = ma.fields.Function(lambda c: ops.signing_public_key(),
                                            metadata={"description": "Ed25519, base64url"})
    key_id = ma.fields.Function(lambda c: ops.signing_key_id())
    created_at = ma.fields.DateTime()


class ControllerCreated(ControllerOut):
    key = ma.fields.String(attribute="shown_key",
                           metadata={"description": "Shown once; stored only as SHA-256."})


class NonceArgs(QuerySchema):
    nonce = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[A-Za-z0-9_-]{16,128}$"))


class SignedList(OutSchema):
    alg = ma.fields.String()
    key_id = ma.fields.String()
    version = ma.fields.Integer()
    payload = ma.fields.String(metadata={"description": "The signed JSON text: format, "
                                         "version, issued_at, nonce, controller_id, "
                                         "customer_id, hash {alg, input, key}, doors, "
                                         "accesses, credentials."})
    signature = ma.fields.String(metadata={"description": "Ed25519 over payload's UTF-8 "
                                                          "bytes, base64url"})


class UnlockCommandOut(OutSchema):
    id = ma.fields.UUID()
    door_id = ma.fields.UUID()
    action = ma.fields.String(metadata={
        "description": "unlock: once (an opening); lock: a lockdown, refuse all but its "
                       "exempt roles; hold_open: an unlock-all; release: back to normal.",
        "enum": ["unlock", "lock", "hold_open", "release"]})
    event_id = ma.fields.UUID(allow_none=True)
    created_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime()


class UnlockCommands(OutSchema):
    items = ma.fields.List(ma.fields.Nested(UnlockCommandOut))


class PassageIn(InSchema):
    event_id = ma.fields.UUID(required=True)
    door_id = ma.fields.UUID(required=True)
    type = ma.fields.String(load_default="passage",
                            validate=ma.validate.OneOf(("passage", *CONTROLLER_ALERTS)),
                            metadata={"description": "passage (the default): an attempt it "
                                      "decided; forced_open, held_open, tamper: a door alert "
                                      "(method and outcome then left out)."})
    occurred_at = ma.fields.AwareDateTime(required=True, validate=_TIME)
    method = ma.fields.String(load_default=None,
                              validate=ma.validate.OneOf(ops.CONTROLLER_METHODS),
                              metadata={"description": "Passages only."})
    outcome = ma.fields.String(load_default=None,
                               validate=ma.validate.OneOf(OUTCOMES),
                               metadata={"description": "Passages only."})

    @ma.validates_schema
    def _passage_fields(self, data, **kwargs):
        if data.get("type", "passage") == "passage":
            missing = {k: ["Required for a passage."] for k in ("method", "outcome")
                       if data.get(k) is None}
            if missing:
                raise ma.ValidationError(missing)
    reason = ma.fields.String(load_default=None, allow_none=True,
                              validate=ma.validate.Regexp(r"^[a-z_]{1,40}$"))
    direction = ma.fields.String(load_default=None, allow_none=True,
                                 validate=ma.validate.OneOf(DIRECTIONS))
    credential_hash = ma.fields.String(load_default=None, allow_none=True,
                                       validate=ma.validate.Regexp(r"^[0-9a-f]{64}$"))


class PassagesIn(InSchema):
    events = ma.fields.List(ma.fields.Nested(PassageIn), required=True,
                            validate=ma.validate.Length(1, ops.MAX_CONTROLLER_EVENTS))


class PassagesOut(OutSchema):
    recorded = ma.fields.Integer()
    duplicates = ma.fields.Integer()


# ------------------------------------------------------------------------------ admins

@blp.route("/customers/<uuid:customer_id>/controllers")
class Controllers(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(ControllerOut, "ControllerPage"))
    def get(self, args, customer_id: uuid.UUID):
        """The customer's door controllers, with their online state."""
        require_customer(customer_id, DOOR_HARDWARE)
        stmt = select(Controller).where(Controller.customer_id == customer_id)
        return keyset_page(db_session(), stmt, [Controller.created_at, Controller.id],
                           limit=args["limit"], cursor=args["cursor"], descending=False)

    @blp.arguments(ControllerIn)
    @blp.response(201, ControllerCreated)
    def post(self, data, customer_id: uuid.UUID):
        """Enrol a controller. Its key is in this answer only."""
        me = require_customer(customer_id, DOOR_HARDWARE)
        s = db_session()
        c, key = ops.create_controller(s, customer_id=customer_id, name=data["name"], by=me)
        # A plain attribute for this answer only (ControllerCreated.key), never persisted.
        c.shown_key = key  # type: ignore[attr-defined]  # not a column
        return c


@blp.route("/customers/<uuid:customer_id>/controllers/<uuid:controller_id>")
class OneController(MethodView):
    @blp.response(200, ControllerOut)
    def get(self, customer_id: uuid.UUID, controller_id: uuid.UUID):
        """One door controller.

        Its name, when it was last heard from, and whether it is active.
        """
        require_customer(customer_id, DOOR_HARDWARE)
        return ops.load_controller(db_session(), customer_id, controller_id)

    @blp.arguments(ControllerPatch)
    @blp.response(200, ControllerOut)
    def patch(self, data, customer_id: uuid.UUID, controller_id: uuid.UUID):
        """Change a door controller.

        Its name; its key stays (a lost key: retire the controller and enrol a new one).
        """
        me = require_customer(customer_id, DOOR_HARDWARE)
        s = db_session()
        return ops.update_controller(s, ops.load_controller(s, customer_id, controller_id),
                                     data, by=me)

    @blp.response(204)
    def delete(self, customer_id: uuid.UUID, controller_id: uuid.UUID):
        """Retire a controller: its key stops working; its doors keep working from the app."""
        me = require_customer(customer_id, DOOR_HARDWARE)
        s = db_session()
        ops.delete_controller(s, ops.load_controller(s, customer_id, controller_id), by=me)
        return ""


# ------------------------------------------------------------------------------ hardware

@blp.route("/controller/credentials", methods=["GET"])
@blp.doc(security=CONTROLLER_SECURITY)
@blp.arguments(NonceArgs, location="query")
@blp.response(200, SignedList)
@blp.problems("controller-key-required", "controller-key-invalid")
def credentials(args):
    """The signed, versioned credential list for this controller's doors."""
    return ops.credential_list(db_session(), g.controller, nonce=args["nonce"])


@blp.route("/controller/commands", methods=["GET"])
@blp.doc(security=CONTROLLER_SECURITY)
@blp.response(200, UnlockCommands)
@blp.problems("controller-key-required", "controller-key-invalid")
def commands():
    """Pending unlock commands for this controller's doors; each is delivered once."""
    return {"items": ops.pending_commands(db_session(), g.controller)}


@blp.route("/controller/events", methods=["POST"])
@blp.doc(security=CONTROLLER_SECURITY)
@blp.arguments(PassagesIn)
@blp.response(200, PassagesOut)
@blp.problems("controller-key-required", "controller-key-invalid",
              "not-this-controllers-door", "event-in-future", "event-too-old")
def events(data):
    """Passages the controller decided itself, and its doors' alerts; a retried post records
    each once."""
    try:
        result = ops.record_controller_events(db_session(), g.controller, data["events"])
    except Unprocessable as e:
        if e.slug == "not-this-controllers-door":
            keep_refusal()  # the refusal's audit record outlives the 422
        raise
    return {"recorded": result.recorded, "duplicates": result.duplicates}
