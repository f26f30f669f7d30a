"""Sites over HTTP: a customer's sites (admins manage, members read) and the person's own
sites across customers. Rules live in entryfy.ops.sites."""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select

from api.access import ADMIN, ANY_MEMBER, member_customer_ids, require_customer
from api.base import (
    Blueprint,
    InSchema,
    OutSchema,
    PageArgs,
    SingleLine,
    keyset_page,
    page_schema,
)
from entryfy.auth import current_account_id
from entryfy.ops import sites as ops
from entryfy.web import db_session
from models import Site
from models.tenancy import scope_to
from models.vocab import GEOFENCE_MODES

blp = Blueprint("sites", __name__, url_prefix="/api/v1", description="Sites")


def _timezone(value: str) -> None:
    if not ops.valid_timezone(value):
        raise ma.ValidationError("Not an IANA time zone, e.g. Europe/Stockholm.")


class SiteIn(InSchema):
    name = ma.fields.String(required=True,
                            validate=[ma.validate.Length(min=1, max=200), SingleLine()])
    address = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=300))
    latitude = ma.fields.Float(required=True, validate=ma.validate.Range(-90, 90))
    longitude = ma.fields.Float(required=True, validate=ma.validate.Range(-180, 180))
    # strict: 12.5 metres is a client bug, not something to round silently.
    radius_m = ma.fields.Integer(required=True, strict=True,
                                 validate=ma.validate.Range(ops.MIN_RADIUS_M, ops.MAX_RADIUS_M))
    geofence = ma.fields.String(validate=ma.validate.OneOf(GEOFENCE_MODES),
                                metadata={"description": "enforce: check-in outside is refused; "
                                          "record: allowed, the verdict is kept."})
    ledger_id = ma.fields.String(allow_none=True, validate=ma.validate.Length(min=1, max=50),
                                 metadata={"description": "The Tax Agency's personnel-ledger id "
                                           "for the site; none: no ledger here."})
    timezone = ma.fields.String(validate=[ma.validate.Length(max=64), _timezone],
                                metadata={"description": "IANA zone for local times in the "
                                          "ledger; default Europe/Stockholm."})
    store_coarse_position = ma.fields.Boolean(
        metadata={"description": "Keep a coarse (about 1 km) position with each entry."})
    late_registration_hours = ma.fields.Integer(
        strict=True, validate=ma.validate.Range(0, ops.MAX_LATE_REGISTRATION_HOURS),
        metadata={"description": "A late or offline check-in (occurred_at) may claim a time at "
                  "most this many hours back; older is an admin's correction. Default 24."})
    auto_checkout_time = ma.fields.Time(
        allow_none=True,
        metadata={"description": "Local time of day (the site's time zone, HH:MM) at which "
                  "entries still open are closed and marked auto_checkout; null: never."})


class SitePatch(SiteIn):
    """Every field optional; only those sent change."""

    def on_bind_field(self, field_name: str, field_obj: ma.fields.Field) -> None:
        field_obj.required = False


class SiteOut(OutSchema):
    id = ma.fields.UUID()
    customer_id = ma.fields.UUID()
    name = ma.fields.String()
    address = ma.fields.String(allow_none=True)
    latitude = ma.fields.Float()
    longitude = ma.fields.Float()
    radius_m = ma.fields.Integer()
    geofence = ma.fields.String()
    ledger_id = ma.fields.String(allow_none=True)
    timezone = ma.fields.String()
    store_coarse_position = ma.fields.Boolean()
    late_registration_hours = ma.fields.Integer()
    auto_checkout_time = ma.fields.Time(allow_none=True)
    created_at = ma.fields.DateTime()


def _page(stmt: Any, args: dict[str, Any]) -> dict[str, Any]:
    return keyset_page(db_session(), stmt, [Site.created_at, Site.id], limit=args["limit"],
                       cursor=args["cursor"], descending=False)


@blp.route("/customers/<uuid:customer_id>/sites")
class Sites(MethodView):
    @blp.arguments(PageArgs, location="query", unknown=ma.RAISE)
    @blp.response(200, page_schema(SiteOut, "SitePage"))
    def get(self, args: dict[str, Any], customer_id: uuid.UUID):
        """The customer's sites, oldest first (admins, operators and members)."""
        require_customer(customer_id, ANY_MEMBER)
        return _page(select(Site).where(Site.customer_id == customer_id), args)

    @blp.arguments(SiteIn)
    @blp.response(201, SiteOut)
    def post(self, data: dict[str, Any], customer_id: uuid.UUID):
        """Add a site (admins)."""
        me = require_customer(customer_id, ADMIN)
        return ops.create_site(db_session(), customer_id, data, by=me)


@blp.route("/customers/<uuid:customer_id>/sites/<uuid:site_id>")
class OneSite(MethodView):
    @blp.response(200, SiteOut)
    def get(self, customer_id: uuid.UUID, site_id: uuid.UUID):
        """One site (admins)."""
        require_customer(customer_id, ADMIN)
        return ops.get_site(db_session(), customer_id, site_id)

    @blp.arguments(SitePatch)
    @blp.response(200, SiteOut)
    def patch(self, data: dict[str, Any], customer_id: uuid.UUID,
              site_id: uuid.UUID):
        """Change a site (admins)."""
        me = require_customer(customer_id, ADMIN)
        s = db_session()
        return ops.update_site(s, ops.get_site(s, customer_id, site_id), data, by=me)

    @blp.response(204)
    @blp.problems("site-has-entries")
    def delete(self, customer_id: uuid.UUID, site_id: uuid.UUID):
        """Remove a site (admins). Refused (422 `site-has-entries`) once attendance was
        recorded there: the personnel ledger must be kept."""
        me = require_customer(customer_id, ADMIN)
        s = db_session()
        ops.delete_site(s, ops.get_site(s, customer_id, site_id), by=me)
        return ""


@blp.route("/me/sites", methods=["GET"])
@blp.arguments(PageArgs, location="query", unknown=ma.RAISE)
@blp.response(200, page_schema(SiteOut, "MySitePage"))
def my_sites(args: dict[str, Any]):
    """The sites of every customer the person is currently an active member of."""
    s = db_session()
    ids = member_customer_ids(current_account_id())
    scope_to(s, *ids)
    # Named as well as scoped: the explicit filter documents the rule, the scope enforces it.
    return _page(select(Site).where(Site.customer_id.in_(ids)), args)
