"""Customers and their members over HTTP. Rules live in entryfy.ops.customers."""

from __future__ import annotations

import datetime as dt
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
from entryfy.ops import customers as ops
from entryfy.ops.auditing import record_read
from entryfy.web import db_session
from models import Membership

blp = Blueprint("customers", __name__, url_prefix="/api/v1",
                description="Customers (tenants) and their members")

NAME = [ma.validate.Length(min=1, max=200), SingleLine()]
# 10 digits with or without the dash, or 12 with the 16 prefix; the rules are in ops.
ORG_NR = ma.validate.Length(min=10, max=13)
EMAIL = ma.validate.Length(max=254)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(dt.UTC) if value is not None else None


class CustomerIn(InSchema):
    name = ma.fields.String(required=True, validate=NAME)
    org_nr = ma.fields.String(required=True, validate=ORG_NR)
    address = ma.fields.String(load_default=None, allow_none=True,
                               validate=[ma.validate.Length(max=300), SingleLine()])
    admin_email = ma.fields.Email(required=True, validate=EMAIL)


class CustomerOut(OutSchema):
    id = ma.fields.UUID()
    name = ma.fields.String()
    org_nr = ma.fields.String()
    address = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    created_at = ma.fields.DateTime()


ROLE = ma.validate.OneOf(ops.ASSIGNABLE_ROLES)
# Times without an offset are taken as UTC (the API's times are UTC).
TIME: dict[str, Any] = {"allow_none": True, "default_timezone": dt.UTC}


class _MemberFields(InSchema):
    employer_name = ma.fields.String(allow_none=True, validate=NAME)
    employer_org_nr = ma.fields.String(allow_none=True, validate=ORG_NR)
    valid_from = ma.fields.AwareDateTime(**TIME)
    valid_to = ma.fields.AwareDateTime(**TIME)

    @ma.post_load
    def _to_utc(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        for key in ("valid_from", "valid_to"):
            if key in data:
                data[key] = _utc(data[key])
        return data


class MemberIn(_MemberFields):
    email = ma.fields.Email(required=True, validate=EMAIL)
    role = ma.fields.String(load_default="member", validate=ROLE)


class MemberPatch(_MemberFields):
    role = ma.fields.String(validate=ROLE)
    active = ma.fields.Boolean()


class MemberOut(OutSchema):
    """What an admin needs to manage a member, and nothing more (no phone, no identity
    number, no account id)."""

    id = ma.fields.UUID()
    first_name = ma.fields.String(allow_none=True)
    last_name = ma.fields.String(allow_none=True)
    email = ma.fields.String()
    role = ma.fields.String()
    active = ma.fields.Boolean()
    pending = ma.fields.Boolean(metadata={"description": "An invitation the person has not "
                                          "accepted yet: no name is shown until they do."})
    employer_name = ma.fields.String(allow_none=True)
    employer_org_nr = ma.fields.String(allow_none=True)
    valid_from = ma.fields.DateTime(allow_none=True)
    valid_to = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()


class CustomerCreatedOut(CustomerOut):
    admin = ma.fields.Nested(MemberOut)


def member_payload(m: Membership) -> dict[str, Any]:
    account = m.account
    return {
        "id": m.id,
        "first_name": account.first_name if account else None,
        "last_name": account.last_name if account else None,
        "email": account.email if account else m.invited_email,
        "role": m.role,
        "active": m.active,
        "pending": account is None,
        "employer_name": m.employer_name,
        "employer_org_nr": m.employer_org_nr,
        "valid_from": m.valid_from,
        "valid_to": m.valid_to,
        "created_at": m.created_at,
    }


# ------------------------------------------------------------------ customers

@blp.route("/customers", methods=["POST"])
@blp.arguments(CustomerIn)
@blp.response(201, CustomerCreatedOut)
@blp.problems("org-nr-taken", "staff-only")
def create_customer(data: dict[str, Any]):
    """Create a customer and its first admin (platform admins only).

    The first admin is invited by e-mail (`admin.pending` is true): the membership binds when
    the person, signed in with that proven address, accepts it. The same organisation number
    twice: 409."""
    staff = require_staff("platform_admin")
    customer, admin = ops.create_customer(db_session(), actor_id=staff.id, **data)
    fields = ("id", "name", "org_nr", "address", "status", "created_at")
    return {**{k: getattr(customer, k) for k in fields}, "admin": member_payload(admin)}


@blp.route("/customers/<uuid:customer_id>", methods=["GET"])
@blp.response(200, CustomerOut)
def get_customer(customer_id: uuid.UUID):
    """The customer (its admins)."""
    require_customer(customer_id, ADMIN)
    return ops.get_customer(db_session(), customer_id)


# ------------------------------------------------------------------ members

@blp.route("/customers/<uuid:customer_id>/members")
class Members(MethodView):
    @blp.arguments(PageArgs, location="query", unknown=ma.RAISE)
    @blp.response(200, page_schema(MemberOut, "MemberPage"))
    def get(self, args: dict[str, Any], customer_id: uuid.UUID):
        """The customer's members and pending invitations, oldest first. Audited."""
        me = require_customer(customer_id, ADMIN)
        s = db_session()
        stmt = (select(Membership).where(Membership.customer_id == customer_id)
                .options(selectinload(Membership.account)))
        page = keyset_page(s, stmt, [Membership.created_at, Membership.id],
                           limit=args["limit"], cursor=args["cursor"], descending=False)
        if page["items"]:
            record_read(s, me, "members.read", customer_id=customer_id,
                        object_type="members")
        return {"items": [member_payload(m) for m in page["items"]],
                "next_cursor": page["next_cursor"]}

    @blp.arguments(MemberIn)
    @blp.response(201, MemberOut)
    @blp.problems("already-member")
    def post(self, data: dict[str, Any], customer_id: uuid.UUID):
        """Invite a member by e-mail: 201 with `pending: true` whether or not the address has
        an account (no name is shown). The invitation is e-mailed with the customer's name and
        binds when the person accepts it (`/me/invitations`). Already a member or invited:
        409."""
        me = require_customer(customer_id, ADMIN)
        m = ops.add_member(db_session(), customer_id, actor_id=me.account_id, **data)
        return member_payload(m)


@blp.route("/customers/<uuid:customer_id>/members/<uuid:member_id>")
class Member(MethodView):
    @blp.arguments(MemberPatch)
    @blp.response(200, MemberOut)
    @blp.problems("last-admin")
    def patch(self, data: dict[str, Any], customer_id: uuid.UUID,
              member_id: uuid.UUID):
        """Change role, active, employer, validity. The last active admin cannot be demoted or
        deactivated (422 `last-admin`)."""
        me = require_customer(customer_id, ADMIN)
        s = db_session()
        m = ops.get_member(s, customer_id, member_id)
        ops.update_member(s, m, data, actor_id=me.account_id)
        return member_payload(m)

    @blp.response(204)
    @blp.problems("last-admin")
    def delete(self, customer_id: uuid.UUID, member_id: uuid.UUID):
        """Remove a member or withdraw an invitation. The last active admin cannot be removed
        (422 `last-admin`)."""
        me = require_customer(customer_id, ADMIN)
        s = db_session()
        ops.remove_member(s, ops.get_member(s, customer_id, member_id), actor_id=me.account_id)
        return ""
