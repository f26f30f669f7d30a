"""Webhooks over HTTP: a customer's admins register receivers for event types, see the
deliveries log and replay one delivery. Rules live in entryfy.ops.webhooks; the signing
secret is shown once, in the answer to the POST, and never again."""

from __future__ import annotations

import json
import uuid
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select

from api.access import ADMIN, require_customer
from api.base import Blueprint, InSchema, OutSchema, PageArgs, keyset_page, page_schema
from entryfy.auth import current_account_id
from entryfy.ops import webhooks as ops
from entryfy.web import db_session
from models import WebhookDelivery, WebhookEndpoint
from models.vocab import WEBHOOK_EVENTS

blp = Blueprint("webhooks", __name__, url_prefix="/api/v1",
                description="Webhooks: signed event notifications to the customer's systems")


class WebhookIn(InSchema):
    # Checked by the operation (entryfy.netguard): scheme, host, and where it resolves to.
    url = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000),
                           metadata={"description": "An http(s) URL where events are POSTed. "
                                     "Private, loopback and link-local addresses are refused "
                                     "(422 `webhook-private-address`)."})
    events = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(WEBHOOK_EVENTS)),
                            required=True,
                            validate=ma.validate.Length(min=1, max=len(WEBHOOK_EVENTS)))


class WebhookOut(OutSchema):
    id = ma.fields.UUID()
    customer_id = ma.fields.UUID()
    url = ma.fields.String()
    events = ma.fields.List(ma.fields.String())
    active = ma.fields.Boolean()
    disabled_at = ma.fields.DateTime(allow_none=True)
    disabled_reason = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()


class WebhookCreated(WebhookOut):
    secret = ma.fields.String(metadata={
        "description": "The signing secret (Standard Webhooks, whsec_...): shown only here."})


class DeliveryOut(OutSchema):
    id = ma.fields.UUID()
    webhook_id = ma.fields.UUID()
    event_type = ma.fields.String()
    message_id = ma.fields.String(metadata={"description": "The webhook-id header."})
    status = ma.fields.String(metadata={"description": "pending, delivered or failed."})
    attempts = ma.fields.Integer()
    response_code = ma.fields.Integer(allow_none=True)
    error = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
    last_attempt_at = ma.fields.DateTime(allow_none=True)
    next_attempt_at = ma.fields.DateTime(allow_none=True)
    replay_of_id = ma.fields.UUID(allow_none=True)
    payload = ma.fields.Raw(metadata={"description": "The JSON body sent."})


def _endpoint(ep: WebhookEndpoint, secret: str | None = None) -> dict[str, Any]:
    out = {"id": ep.id, "customer_id": ep.customer_id, "url": ep.url,
           "events": ep.event_list(), "active": ep.active, "disabled_at": ep.disabled_at,
           "disabled_reason": ep.disabled_reason, "created_at": ep.created_at}
    if secret is not None:
        out["secret"] = secret
    return out


def _delivery(d: WebhookDelivery) -> dict[str, Any]:
    return {"id": d.id, "webhook_id": d.endpoint_id, "event_type": d.event_type,
            "message_id": d.message_id, "status": d.status, "attempts": d.attempts,
            "response_code": d.response_code, "error": d.error, "created_at": d.created_at,
            "last_attempt_at": d.last_attempt_at,
            "next_attempt_at": d.next_attempt_at if d.status == "pending" else None,
            "replay_of_id": d.replay_of_id, "payload": json.loads(d.payload)}


@blp.route("/customers/<uuid:customer_id>/webhooks")
class Webhooks(MethodView):
    @blp.arguments(PageArgs, location="query", unknown=ma.RAISE)
    @blp.response(200, page_schema(WebhookOut, "WebhookPage"))
    def get(self, args: dict[str, Any], customer_id: uuid.UUID):
        """The customer's webhooks, oldest first, without their secrets (admins)."""
        require_customer(customer_id, ADMIN)
        page = keyset_page(db_session(), select(WebhookEndpoint).where(
            WebhookEndpoint.customer_id == customer_id),
            [WebhookEndpoint.created_at, WebhookEndpoint.id], limit=args["limit"],
            cursor=args["cursor"], descending=False)
        page["items"] = [_endpoint(ep) for ep in page["items"]]
        return page

    @blp.arguments(WebhookIn)
    @blp.response(201, WebhookCreated)
    def post(self, data: dict[str, Any], customer_id: uuid.UUID):
        """Register a receiver for event types (admins). The answer carries the signing
        secret, once; a URL leading to a private address is refused (422)."""
        require_customer(customer_id, ADMIN)
        ep, secret = ops.create_endpoint(db_session(), customer_id, url=data["url"],
                                         events=data["events"], actor_id=current_account_id())
        return _endpoint(ep, secret)


@blp.route("/customers/<uuid:customer_id>/webhooks/<uuid:webhook_id>")
class OneWebhook(MethodView):
    @blp.response(200, WebhookOut)
    def get(self, customer_id: uuid.UUID, webhook_id: uuid.UUID):
        """One webhook, without its secret (admins)."""
        require_customer(customer_id, ADMIN)
        return _endpoint(ops.get_endpoint(db_session(), customer_id, webhook_id))

    @blp.response(204)
    def delete(self, customer_id: uuid.UUID, webhook_id: uuid.UUID):
        """Remove a webhook and its deliveries log (admins)."""
        require_customer(customer_id, ADMIN)
        s = db_session()
        ops.delete_endpoint(s, ops.get_endpoint(s, customer_id, webhook_id),
                            actor_id=current_account_id())
        return ""


@blp.route("/customers/<uuid:customer_id>/webhooks/<uuid:webhook_id>/deliveries",
           methods=["GET"])
@blp.arguments(PageArgs, location="query", unknown=ma.RAISE)
@blp.response(200, page_schema(DeliveryOut, "WebhookDeliveryPage"))
def deliveries(args: dict[str, Any], customer_id: uuid.UUID,
               webhook_id: uuid.UUID):
    """The webhook's deliveries, newest first: status, attempts, last response code."""
    require_customer(customer_id, ADMIN)
    s = db_session()
    ep = ops.get_endpoint(s, customer_id, webhook_id)
    page = keyset_page(s, select(WebhookDelivery).where(
        WebhookDelivery.customer_id == customer_id, WebhookDelivery.endpoint_id == ep.id),
        [WebhookDelivery.created_at, WebhookDelivery.id], limit=args["limit"],
        cursor=args["cursor"])
    page["items"] = [_delivery(d) for d in page["items"]]
    return page


@blp.route("/customers/<uuid:customer_id>/webhooks/<uuid:webhook_id>/deliveries/"
           "<uuid:delivery_id>/replay", methods=["POST"])
@blp.response(202, DeliveryOut)
def replay(customer_id: uuid.UUID, webhook_id: uuid.UUID,
           delivery_id: uuid.UUID):
    """Send one delivery again (same payload and webhook-id); the new delivery, queued."""
    require_customer(customer_id, ADMIN)
    return _delivery(ops.replay(db_session(), customer_id, webhook_id, delivery_id))
