"""Privacy endpoints: the processing registry (public), the person's consents, a customer's
audit trail. Thin views over privacy/."""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select

from api.access import require_customer
from api.base import Blueprint, InSchema, OutSchema, PageArgs, keyset_page, page_schema
from entryfy.auth import current_account, current_account_id
from entryfy.errors import ValidationFailed
from entryfy.web import db_session
from models import AuditEvent
from models.vocab import CONSENT_CHANNELS
from privacy import audit, consent, registry

blp = Blueprint("privacy", __name__, url_prefix="/api/v1",
                description="Processing registry, consents, audit trail")


# --------------------------------------------------------------------------- registry

class RetentionOut(OutSchema):
    key = ma.fields.String()
    description = ma.fields.String()
    period = ma.fields.String(allow_none=True, metadata={"description": "ISO 8601 duration"})
    anchor = ma.fields.String()
    anchor_description = ma.fields.String()
    legal_hold = ma.fields.Boolean()
    legal_basis_for_hold = ma.fields.String(allow_none=True)
    automated = ma.fields.Boolean()
    carried_out_by = ma.fields.String(allow_none=True)
    applies_to = ma.fields.String(allow_none=True, metadata={
        "description": "Which rows a legal hold reaches, when not every row of its tables"})


class KeyedText(OutSchema):
    key = ma.fields.String()
    description = ma.fields.String()


class PurposeOut(OutSchema):
    key = ma.fields.String()
    title = ma.fields.String()
    description = ma.fields.String()
    controller = ma.fields.String(metadata={"enum": ["vendor", "customer"]})
    legal_basis = ma.fields.String(
        metadata={"enum": ["consent", "contract", "legitimate_interest", "legal_obligation"]})
    legal_basis_description = ma.fields.String()
    legal_basis_detail = ma.fields.String(allow_none=True)
    legal_obligation = ma.fields.Boolean(metadata={
        "description": "A law obliges this processing (GDPR Art. 6(1)(c)); false for every "
                       "other purpose"})
    data_categories = ma.fields.List(ma.fields.Nested(KeyedText))
    data_subjects = ma.fields.List(ma.fields.Nested(KeyedText))
    recipients = ma.fields.List(ma.fields.String())
    transfers = ma.fields.List(ma.fields.String())
    transfers_note = ma.fields.String()
    retention = ma.fields.Nested(RetentionOut)
    other_retention = ma.fields.List(ma.fields.Nested(RetentionOut))
    stored_in_system = ma.fields.Boolean()
    uses_data_of = ma.fields.List(ma.fields.String())


class OperatorOut(OutSchema):
    name = ma.fields.String()
    org_nr = ma.fields.String()
    address = ma.fields.String()
    dpo = ma.fields.String()
    supervisory_authority = ma.fields.String()


class ControllerRecord(OutSchema):
    role = ma.fields.String()
    controller = ma.fields.Nested(OperatorOut)
    purposes = ma.fields.List(ma.fields.Nested(PurposeOut))
    security_measures = ma.fields.List(ma.fields.String())
    rights = ma.fields.List(ma.fields.String())
    automated_decision_making = ma.fields.Boolean()
    profiling = ma.fields.Boolean()
    statement = ma.fields.String()


class ProcessorRecord(OutSchema):
    role = ma.fields.String()
    processor = ma.fields.Nested(OperatorOut)
    controllers = ma.fields.String()
    sub_processors = ma.fields.List(ma.fields.String())
    purposes = ma.fields.List(ma.fields.Nested(PurposeOut))
    security_measures = ma.fields.List(ma.fields.String())
    automated_decision_making = ma.fields.Boolean()
    profiling = ma.fields.Boolean()
    statement = ma.fields.String()


class ProcessingActivities(OutSchema):
    controller = ma.fields.Nested(ControllerRecord)
    processor = ma.fields.Nested(ProcessorRecord)
    retention_rules = ma.fields.List(ma.fields.Nested(RetentionOut))


@blp.route("/privacy/processing-activities", methods=["GET"])
@blp.response(200, ProcessingActivities)
@blp.doc(security=[])
def processing_activities():
    """The records of processing (GDPR Art. 30), as controller and as processor. Public."""
    return registry.declaration()


# --------------------------------------------------------------------------- consents

class NoticeOut(OutSchema):
    version = ma.fields.Integer()
    url = ma.fields.String()
    text_sha256 = ma.fields.String()
    published_at = ma.fields.DateTime()


class ConsentOut(OutSchema):
    purpose = ma.fields.String()
    title = ma.fields.String()
    description = ma.fields.String()
    granted = ma.fields.Boolean()
    decided_at = ma.fields.DateTime(allow_none=True)
    channel = ma.fields.String(allow_none=True)
    agreed_notice_version = ma.fields.Integer(allow_none=True)
    current_notice = ma.fields.Nested(NoticeOut, allow_none=True)


class ConsentsOut(OutSchema):
    items = ma.fields.List(ma.fields.Nested(ConsentOut))


class ChoiceIn(InSchema):
    purpose = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=40))
    granted = ma.fields.Boolean(required=True)
    notice_version = ma.fields.Integer(
        load_default=None, allow_none=True, validate=ma.validate.Range(1, 1_000_000),
        metadata={"description": "The notice version shown; required when granting."})


class ConsentsIn(InSchema):
    consents = ma.fields.List(ma.fields.Nested(ChoiceIn), required=True,
                              validate=ma.validate.Length(min=1, max=20))
    channel = ma.fields.String(load_default="api",
                               validate=ma.validate.OneOf(list(CONSENT_CHANNELS)))


def _consents_payload(account_id: uuid.UUID) -> dict[str, Any]:
    items = []
    for st in consent.overview(db_session(), account_id):
        n = st.current_notice
        items.append({
            "purpose": st.purpose.key, "title": st.purpose.title,
            "description": st.purpose.description, "granted": st.granted,
            "decided_at": st.decided_at, "channel": st.channel,
            "agreed_notice_version": st.agreed_version,
            "current_notice": None if n is None else {
                "version": n.version, "url": n.url, "text_sha256": n.text_sha256,
                "published_at": n.published_at},
        })
    return {"items": items}


@blp.route("/me/consents")
class MyConsents(MethodView):
    @blp.response(200, ConsentsOut)
    def get(self):
        """The person's choice for every purpose that rests on consent."""
        return _consents_payload(current_account_id())

    @blp.arguments(ConsentsIn)
    @blp.response(200, ConsentsOut)
    @blp.problems("not-consent-based", "no-notice", "stale-notice")
    def put(self, data):
        """Give (naming the current notice version) or withdraw consents."""
        account = current_account()
        consent.decide(db_session(), account.id, [
            consent.Choice(c["purpose"], c["granted"], c["notice_version"])
            for c in data["consents"]
        ], channel=data["channel"])
        return _consents_payload(account.id)


# --------------------------------------------------------------------------- audit trail

class AuditEventOut(OutSchema):
    id = ma.fields.UUID()
    seq = ma.fields.Integer()
    occurred_at = ma.fields.DateTime()
    actor_id = ma.fields.UUID(allow_none=True)
    actor_role = ma.fields.String(allow_none=True)
    action = ma.fields.String()
    object_type = ma.fields.String(allow_none=True)
    object_id = ma.fields.String(allow_none=True)
    subject_id = ma.fields.UUID(allow_none=True)
    ticket_id = ma.fields.UUID(allow_none=True)
    prev_hash = ma.fields.String()
    hash = ma.fields.String()


class AuditQuery(PageArgs):
    action = ma.fields.String(validate=ma.validate.Length(min=1, max=60))
    actor = ma.fields.UUID()
    from_ = ma.fields.AwareDateTime(data_key="from")
    to = ma.fields.AwareDateTime()


@blp.route("/customers/<uuid:customer_id>/audit-events", methods=["GET"])
@blp.arguments(AuditQuery, location="query")
@blp.response(200, page_schema(AuditEventOut, "AuditEventPage"))
def customer_audit_events(args, customer_id):
    """Who read or changed the customer's personal data (support staff included), newest
    first. Filters: ``action``, ``actor`` (account id), ``from``/``to`` (inclusive/exclusive)."""
    require_customer(customer_id)
    if args.get("from_") and args.get("to") and args["from_"] >= args["to"]:
        raise ValidationFailed({"from": ["Must be before 'to'."]})
    stmt = select(AuditEvent).where(AuditEvent.chain == audit.chain_name(customer_id))
    if args.get("action"):
        stmt = stmt.where(AuditEvent.action == args["action"])
    if args.get("actor"):
        stmt = stmt.where(AuditEvent.actor_id == args["actor"])
    if args.get("from_"):
        stmt = stmt.where(AuditEvent.occurred_at >= args["from_"])
    if args.get("to"):
        stmt = stmt.where(AuditEvent.occurred_at < args["to"])
    return keyset_page(db_session(), stmt, [AuditEvent.seq], limit=args["limit"],
                       cursor=args["cursor"])


# --------------------------------------------------------------------------- newsletter

class UnsubscribeArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    token = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100),
                             metadata={"description": "From the newsletter's link"})


class UnsubscribedOut(OutSchema):
    unsubscribed = ma.fields.Boolean()
    detail = ma.fields.String()


@blp.route("/newsletter/unsubscribe", methods=["POST"])
@blp.arguments(UnsubscribeArgs, location="query")
@blp.response(200, UnsubscribedOut)
@blp.doc(security=[])
def newsletter_unsubscribe(args):
    """One-click unsubscribe (RFC 8058): the newsletter's `List-Unsubscribe` address, POSTed
    by the mail client (body `List-Unsubscribe=One-Click`, ignored) or by the page behind the
    link. Withdraws the newsletter consent at once; again is harmless. No sign-in: the token
    is the proof."""
    from entryfy.ops import newsletter

    newsletter.unsubscribe(db_session(), args["token"])
    return {"unsubscribed": True,
            "detail": "You will receive no more newsletters. You can subscribe again in the "
                      "app."}


@blp.route("/newsletter/unsubscribe", methods=["GET"])
@blp.arguments(UnsubscribeArgs, location="query")
@blp.response(200, description="A page with the one-click button (a GET changes nothing: mail "
                               "scanners follow links)")
@blp.doc(security=[])
def newsletter_unsubscribe_page(args):
    """The newsletter's unsubscribe page (the mail's link).

    Shows a button that posts the one-click unsubscribe; the GET itself changes nothing,
    since mail scanners follow links. An invalid token answers 404.
    """
    from html import escape

    from flask import Response

    from entryfy.ops import newsletter

    newsletter.account_of(args["token"])  # an invalid token is 404 here too
    action = escape(f"{newsletter.UNSUBSCRIBE_PATH}?token={args['token']}", quote=True)
    return Response(
        "<!doctype html><html lang=en><meta charset=utf-8><title>Unsubscribe</title>"
        f"<form method=post action=\"{action}\"><p>Stop the Entryfy newsletter?</p>"
        "<button type=submit>Unsubscribe</button></form></html>", mimetype="text/html")
