"""Support cases over HTTP: the customer's admins open tickets, write to support and grant it
time-limited access to some of their data for one ticket; the vendor's support staff answer
and, under a live grant, read. Rules live in entryfy.ops.support.

Platform admins have no part here: support cases are the customer's data, processed for it
by support only (platform admins never see a customer's entry data).
"""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from api.access import ADMIN, require_customer, require_staff
from api.base import (
    Blueprint,
    InSchema,
    OutSchema,
    PageArgs,
    SingleLine,
    keyset_page,
    page_schema,
)
from api.customers import MemberOut, member_payload
from api.sites import SiteOut
from entryfy.auth import current_account
from entryfy.ops import identity
from entryfy.ops import support as ops
from entryfy.web import db_session
from models import AccessGrant, Entry, Membership, Site, Ticket, TicketMessage
from models.tenancy import system_scope
from models.vocab import GRANT_SCOPES, TICKET_STATUSES

blp = Blueprint("support", __name__, url_prefix="/api/v1",
                description="Support tickets, and the grants that let support read for one")

SUPPORT_ROLES = ("support",)


# ------------------------------------------------------------------ schemas

class TicketIn(InSchema):
    subject = ma.fields.String(required=True,
                               validate=[ma.validate.Length(min=1, max=200), SingleLine()])
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=10_000))


class TicketMessageIn(InSchema):
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=10_000))


class TicketPatch(InSchema):
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(["closed"]),
                              metadata={"description": "Only `closed`: the case is handled."})


class AccessGrantIn(InSchema):
    scopes = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(GRANT_SCOPES)), required=True,
        validate=ma.validate.Length(min=1, max=len(GRANT_SCOPES)),
    )
    expires_in_hours = ma.fields.Integer(
        required=True, strict=True,
        validate=ma.validate.Range(ops.MIN_GRANT_HOURS, ops.MAX_GRANT_HOURS),
    )


class TicketFilter(PageArgs):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(TICKET_STATUSES))


class SupportEntryFilter(PageArgs):
    site_id = ma.fields.UUID(load_default=None)


class TicketMessageOut(OutSchema):
    id = ma.fields.UUID()
    author_role = ma.fields.String()
    author_id = ma.fields.UUID(allow_none=True)
    body = ma.fields.String()
    created_at = ma.fields.DateTime()


class AccessGrantOut(OutSchema):
    id = ma.fields.UUID()
    ticket_id = ma.fields.UUID()
    scopes = ma.fields.Function(lambda g: g.scope_list)
    granted_by_id = ma.fields.UUID(allow_none=True)
    created_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime()
    revoked_at = ma.fields.DateTime(allow_none=True)
    active = ma.fields.Function(lambda g: g.live(_now()))


class TicketOut(OutSchema):
    id = ma.fields.UUID()
    customer_id = ma.fields.UUID()
    subject = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    opened_by_id = ma.fields.UUID(allow_none=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()
    closed_at = ma.fields.DateTime(allow_none=True)
    content_removed = ma.fields.Function(lambda t: t.content_removed_at is not None)


class TicketDetailOut(TicketOut):
    messages = ma.fields.List(ma.fields.Nested(TicketMessageOut))
    grants = ma.fields.List(ma.fields.Nested(AccessGrantOut))


class SupportTicketOut(TicketOut):
    customer_name = ma.fields.Function(lambda t: t.customer.name)


class SupportTicketDetailOut(SupportTicketOut):
    messages = ma.fields.List(ma.fields.Nested(TicketMessageOut))
    grants = ma.fields.List(ma.fields.Nested(AccessGrantOut))


class SupportMemberOut(MemberOut):
    """What the customer's admins see of a member, plus the account id and the identity
    number, which support sees masked (YYYYMMDD-****) in every case."""

    account_id = ma.fields.UUID(allow_none=True)
    identity_number = ma.fields.String(allow_none=True)


class SupportEntryOut(OutSchema):
    id = ma.fields.UUID()
    site_id = ma.fields.UUID()
    account_id = ma.fields.UUID(allow_none=True)
    member_id = ma.fields.UUID(allow_none=True, attribute="membership_id")
    employer_name = ma.fields.String(allow_none=True)
    employer_org_nr = ma.fields.String(allow_none=True)
    checked_in_at = ma.fields.DateTime()
    checked_out_at = ma.fields.DateTime(allow_none=True)
    inside_geofence = ma.fields.Boolean(allow_none=True)
    distance_m = ma.fields.Integer(allow_none=True)
    checkout_inside_geofence = ma.fields.Boolean(allow_none=True)
    source = ma.fields.String()
    restricted = ma.fields.Boolean()


def _now():
    from entryfy import clock

    return clock.now()


def _detail(ticket: Ticket, messages: list[TicketMessage],
            grants: list[AccessGrant]) -> dict[str, Any]:
    return {**{f: getattr(ticket, f) for f in (
        "id", "customer_id", "subject", "status", "opened_by_id", "created_at", "updated_at",
        "closed_at", "content_removed_at", "customer")},
        "messages": messages, "grants": grants}


class _Obj(dict):
    """A dict whose keys read as attributes, for the Function fields of the schemas."""

    __getattr__ = dict.__getitem__


# ------------------------------------------------------------------ the customer's admins

@blp.route("/customers/<uuid:customer_id>/tickets")
class CustomerTickets(MethodView):
    @blp.arguments(TicketFilter, location="query")
    @blp.response(200, page_schema(TicketOut, "TicketPage"))
    def get(self, args: dict[str, Any], customer_id: uuid.UUID):
        """The customer's tickets, newest first."""
        require_customer(customer_id, ADMIN)
        stmt = select(Ticket).where(Ticket.customer_id == customer_id)
        if args["status"]:
            stmt = stmt.where(Ticket.status == args["status"])
        return keyset_page(db_session(), stmt, [Ticket.created_at, Ticket.id],
                           limit=args["limit"], cursor=args["cursor"])

    @blp.arguments(TicketIn)
    @blp.response(201, TicketDetailOut)
    def post(self, data: dict[str, Any], customer_id: uuid.UUID):
        """Open a ticket: `subject` and the first message's `body`."""
        require_customer(customer_id, ADMIN)
        s = db_session()
        ticket = ops.open_ticket(s, customer_id=customer_id, author=current_account(),
                                 subject=data["subject"], body=data["body"])
        return _Obj(_detail(ticket, ops.messages(s, ticket), []))


@blp.route("/customers/<uuid:customer_id>/tickets/<uuid:ticket_id>")
class CustomerTicket(MethodView):
    @blp.response(200, TicketDetailOut)
    def get(self, customer_id: uuid.UUID, ticket_id: uuid.UUID):
        """One ticket with its messages and grants."""
        require_customer(customer_id, ADMIN)
        s = db_session()
        ticket = ops.get_ticket(s, customer_id, ticket_id)
        return _Obj(_detail(ticket, ops.messages(s, ticket), ops.grants(s, ticket)))

    @blp.arguments(TicketPatch)
    @blp.response(200, TicketDetailOut)
    def patch(self, data: dict[str, Any], customer_id: uuid.UUID,
              ticket_id: uuid.UUID):
        """Close the ticket (`{"status": "closed"}`): its live grants end at once."""
        require_customer(customer_id, ADMIN)
        s = db_session()
        ticket = ops.get_ticket(s, customer_id, ticket_id)
        ops.close_ticket(s, ticket, by=current_account())
        return _Obj(_detail(ticket, ops.messages(s, ticket), ops.grants(s, ticket)))


@blp.route("/customers/<uuid:customer_id>/tickets/<uuid:ticket_id>/messages",
           methods=["POST"])
@blp.arguments(TicketMessageIn)
@blp.response(201, TicketMessageOut)
@blp.problems("ticket-closed", "ticket-full")
def customer_message(data: dict[str, Any], customer_id: uuid.UUID,
                     ticket_id: uuid.UUID):
    """Write to support on an open ticket (a closed one: 422 `ticket-closed`)."""
    require_customer(customer_id, ADMIN)
    s = db_session()
    ticket = ops.get_ticket(s, customer_id, ticket_id)
    return ops.customer_message(s, ticket, author=current_account(), body=data["body"])


@blp.route("/customers/<uuid:customer_id>/tickets/<uuid:ticket_id>/grants", methods=["POST"])
@blp.arguments(AccessGrantIn)
@blp.response(201, AccessGrantOut)
@blp.problems("ticket-closed")
def create_grant(data: dict[str, Any], customer_id: uuid.UUID,
                 ticket_id: uuid.UUID):
    """Let support read `scopes` of the customer's data for this ticket, for
    `expires_in_hours` (1 to 168). Audited."""
    require_customer(customer_id, ADMIN)
    s = db_session()
    ticket = ops.get_ticket(s, customer_id, ticket_id)
    return ops.create_grant(s, ticket, by=current_account(), scopes=data["scopes"],
                            expires_in_hours=data["expires_in_hours"])


@blp.route("/customers/<uuid:customer_id>/tickets/<uuid:ticket_id>/grants/<uuid:grant_id>",
           methods=["DELETE"])
@blp.response(204)
def revoke_grant(customer_id: uuid.UUID, ticket_id: uuid.UUID,
                 grant_id: uuid.UUID):
    """Revoke a grant: support's next request under it is refused. Audited."""
    require_customer(customer_id, ADMIN)
    s = db_session()
    ticket = ops.get_ticket(s, customer_id, ticket_id)
    ops.revoke_grant(s, ticket, grant_id, by=current_account())
    return ""


# ------------------------------------------------------------------ the vendor's support

@blp.route("/support/tickets", methods=["GET"])
@blp.arguments(TicketFilter, location="query")
@blp.response(200, page_schema(SupportTicketOut, "SupportTicketPage"))
@blp.problems("staff-only")
def support_tickets(args: dict[str, Any]):
    """Every customer's tickets, newest first (support staff only)."""
    require_staff(*SUPPORT_ROLES)
    s = db_session()
    with system_scope(s, "support: list tickets"):
        page = keyset_page(s, ops.support_tickets_query(args["status"]).options(
            selectinload(Ticket.customer)), [Ticket.created_at, Ticket.id],
            limit=args["limit"], cursor=args["cursor"])
    return page


@blp.route("/support/tickets/<uuid:ticket_id>", methods=["GET"])
@blp.response(200, SupportTicketDetailOut)
@blp.problems("staff-only")
def support_ticket(ticket_id: uuid.UUID):
    """One ticket with its messages and grants (support staff only). Audited."""
    staff = require_staff(*SUPPORT_ROLES)
    ticket, messages, grants = ops.read_ticket(db_session(), staff, ticket_id)
    return _Obj(_detail(ticket, messages, grants))


@blp.route("/support/tickets/<uuid:ticket_id>/messages", methods=["POST"])
@blp.arguments(TicketMessageIn)
@blp.response(201, TicketMessageOut)
@blp.problems("staff-only", "ticket-closed", "ticket-full")
def support_message(data: dict[str, Any], ticket_id: uuid.UUID):
    """Answer a ticket (support staff only); the ticket becomes `answered`."""
    staff = require_staff(*SUPPORT_ROLES)
    return ops.support_message(db_session(), staff, ticket_id, data["body"])


def _member(m: Membership) -> dict[str, Any]:
    return {**member_payload(m), "account_id": m.account_id,
            "identity_number": identity.masked(m.account) if m.account else None}


@blp.route("/support/tickets/<uuid:ticket_id>/members", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(SupportMemberOut, "SupportMemberPage"))
@blp.problems("staff-only", "grant-required")
def support_members(args: dict[str, Any], ticket_id: uuid.UUID):
    """The customer's members, while a live grant for this ticket covers `members` (else
    403 `grant-required`). Identity numbers masked. Audited."""
    staff = require_staff(*SUPPORT_ROLES)
    s = db_session()
    ticket = ops.open_grant_scope(s, staff, ticket_id, "members")
    stmt = (select(Membership).where(Membership.customer_id == ticket.customer_id)
            .options(selectinload(Membership.account)))
    page = keyset_page(s, stmt, [Membership.created_at, Membership.id], limit=args["limit"],
                       cursor=args["cursor"])
    return {**page, "items": [_member(m) for m in page["items"]]}


@blp.route("/support/tickets/<uuid:ticket_id>/sites", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(SiteOut, "SupportSitePage"))
@blp.problems("staff-only", "grant-required")
def support_sites(args: dict[str, Any], ticket_id: uuid.UUID):
    """The customer's sites, while a live grant for this ticket covers `sites`. Audited."""
    staff = require_staff(*SUPPORT_ROLES)
    s = db_session()
    ticket = ops.open_grant_scope(s, staff, ticket_id, "sites")
    stmt = select(Site).where(Site.customer_id == ticket.customer_id)
    return keyset_page(s, stmt, [Site.created_at, Site.id], limit=args["limit"],
                       cursor=args["cursor"])


@blp.route("/support/tickets/<uuid:ticket_id>/entries", methods=["GET"])
@blp.arguments(SupportEntryFilter, location="query")
@blp.response(200, page_schema(SupportEntryOut, "SupportEntryPage"))
@blp.problems("staff-only", "grant-required")
def support_entries(args: dict[str, Any], ticket_id: uuid.UUID):
    """The customer's entries, newest first, while a live grant for this ticket covers
    `entries`. Audited."""
    staff = require_staff(*SUPPORT_ROLES)
    s = db_session()
    ticket = ops.open_grant_scope(s, staff, ticket_id, "entries")
    stmt = select(Entry).where(Entry.customer_id == ticket.customer_id)
    if args["site_id"]:
        stmt = stmt.where(Entry.site_id == args["site_id"])
    return keyset_page(s, stmt, [Entry.checked_in_at, Entry.id], limit=args["limit"],
                       cursor=args["cursor"])
