"""Site operations over HTTP for the customer's people: who is on site now (JSON, CSV, a
printable PDF for an evacuation), kiosks, inspectors' accesses and members' ID06 cards.
Rules live in entryfy.ops.onsite, .kiosks and .inspections."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import marshmallow as ma
from flask import Response
from flask.views import MethodView

from api import printing
from api.access import ADMIN, ON_SITE_ROLES, require_customer
from api.base import (
    Blueprint,
    InSchema,
    OutSchema,
    PageArgs,
    QuerySchema,
    keyset_page,
    page_schema,
)
from entryfy import clock
from entryfy.ops import inspections as inspection_ops
from entryfy.ops import kiosks as kiosk_ops
from entryfy.ops import onsite
from entryfy.ops import sites as site_ops
from entryfy.ops.customers import get_member
from entryfy.web import db_session, streamed
from models import Inspection
from privacy import audit

blp = Blueprint("site_ops", __name__, url_prefix="/api/v1",
                description="Site operations: who is on site, kiosks, inspections")

FORMATS = ("json", "csv", "pdf")


class FormatArgs(QuerySchema):
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(FORMATS))


class PresentOut(OutSchema):
    entry_id = ma.fields.UUID()
    person_name = ma.fields.String(allow_none=True)
    employer_name = ma.fields.String(allow_none=True)
    checked_in_at = ma.fields.DateTime()


class OnSiteOut(OutSchema):
    site_id = ma.fields.UUID()
    site_name = ma.fields.String()
    as_of = ma.fields.DateTime(metadata={"description": "When the list was read."})
    count = ma.fields.Integer()
    items = ma.fields.List(ma.fields.Nested(PresentOut))


ON_SITE_COLUMNS = onsite.ON_SITE_COLUMNS


@blp.route("/customers/<uuid:customer_id>/sites/<uuid:site_id>/on-site", methods=["GET"])
@blp.arguments(FormatArgs, location="query", unknown=ma.RAISE)
@blp.response(200, OnSiteOut, description="Who is checked in now: JSON, or with format=csv "
              "a CSV, with format=pdf a printable list stamped with the time it was made.")
@blp.alt_response(200, schema=ma.Schema.from_dict({}, name="OnSiteCsv"),
                  content_type="text/csv", description="format=csv")
@blp.alt_response(200, schema=ma.Schema.from_dict({}, name="OnSitePdf"),
                  content_type="application/pdf", description="format=pdf")
def on_site(args: dict[str, Any], customer_id: uuid.UUID,
            site_id: uuid.UUID):
    """Who is on the site now, earliest check-in first (admins, operators, foremen): the
    evacuation list. Read through the index of open entries, fast at any size. Audited."""
    membership = require_customer(customer_id, ON_SITE_ROLES)
    s = db_session()
    site = site_ops.get_site(s, customer_id, site_id)
    now = clock.now()
    audit.record(s, action="entries.read", customer_id=customer_id,
                 actor_id=membership.account_id, actor_role=membership.role,
                 object_type="on_site", object_id=site.id)
    headers = {"Cache-Control": "no-store"}
    if args["format"] == "json":
        # Written by the database on PostgreSQL (onsite.on_site_json); the fields are the
        # schema's.
        count, items = onsite.on_site_json(s, site)
        head = json.dumps({"site_id": str(site.id), "site_name": site.name,
                           "as_of": now.isoformat(), "count": count}, ensure_ascii=False)
        return Response(head[:-1] + ', "items": ' + items + "}",
                        mimetype="application/json", headers=headers)
    if args["format"] == "csv":
        # Streamed from a cursor after the commit (the audit record is in before the first
        # byte): flat memory at any size.
        headers["Content-Disposition"] = f'attachment; filename="on-site-{site.id}.csv"'
        return Response(streamed(itertools.chain(
            [printing.csv_text(ON_SITE_COLUMNS, ())], onsite.on_site_csv(s, site))),
            mimetype="text/csv", headers=headers)
    people = onsite.on_site(s, site)
    headers["Content-Disposition"] = f'inline; filename="on-site-{site.id}.pdf"'
    stamp = (f"Printed {printing.local(now, site.timezone)} ({site.timezone}), "
             f"{now.strftime('%Y-%m-%d %H:%M')} UTC")
    body = printing.pdf_table(
        f"On site now: {site.name}", stamp,
        [f"Address: {site.address or '-'}", f"People checked in: {len(people)}"],
        [("Checked in", ("#", "Name", "Employer", "Checked in", "Present at muster"),
          (10, 80, 80, 40, 50),
          ((i, p.person_name, p.employer_name,
            printing.local(p.checked_in_at, site.timezone), "")
           for i, p in enumerate(people, 1)))],
    )
    return Response(body, mimetype="application/pdf", headers=headers)


# ------------------------------------------------------------------------- kiosks

class KioskIn(InSchema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    require_pin = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "Ask every person for their door PIN as well."})


class KioskOut(OutSchema):
    id = ma.fields.UUID()
    site_id = ma.fields.UUID()
    name = ma.fields.String()
    require_pin = ma.fields.Boolean()
    created_at = ma.fields.DateTime()
    revoked_at = ma.fields.DateTime(allow_none=True)
    last_used_at = ma.fields.DateTime(allow_none=True)


class NewKioskOut(KioskOut):
    token = ma.fields.String(metadata={"description": "Shown once: the kiosk sends it as "
                                       "Authorization: Bearer <token>."})


@blp.route("/customers/<uuid:customer_id>/sites/<uuid:site_id>/kiosks")
class Kiosks(MethodView):
    @blp.response(200, KioskOut(many=True))
    def get(self, customer_id: uuid.UUID, site_id: uuid.UUID):
        """The site's kiosks (admins), never their tokens."""
        require_customer(customer_id, ADMIN)
        s = db_session()
        return kiosk_ops.site_kiosks(s, site_ops.get_site(s, customer_id, site_id))

    @blp.arguments(KioskIn)
    @blp.response(201, NewKioskOut)
    def post(self, data: dict[str, Any], customer_id: uuid.UUID,
             site_id: uuid.UUID):
        """A kiosk for the site (admins): its token is in this answer only. Audited."""
        m = require_customer(customer_id, ADMIN)
        s = db_session()
        made = kiosk_ops.create_kiosk(s, site_ops.get_site(s, customer_id, site_id),
                                      name=data["name"], require_pin=data["require_pin"],
                                      actor_id=m.account_id)
        k = made.kiosk
        return {"id": k.id, "site_id": k.site_id, "name": k.name,
                "require_pin": k.require_pin, "created_at": k.created_at,
                "revoked_at": None, "last_used_at": None, "token": made.token}


@blp.route("/customers/<uuid:customer_id>/sites/<uuid:site_id>/kiosks/<uuid:kiosk_id>",
           methods=["DELETE"])
@blp.response(204)
def revoke_kiosk(customer_id: uuid.UUID, site_id: uuid.UUID,
                 kiosk_id: uuid.UUID):
    """Revoke a kiosk (admins): its token stops working at once. Audited."""
    m = require_customer(customer_id, ADMIN)
    s = db_session()
    kiosk_ops.revoke_kiosk(s, site_ops.get_site(s, customer_id, site_id), kiosk_id,
                           actor_id=m.account_id)
    return ""


class CardIn(InSchema):
    card_number = ma.fields.String(
        required=True, allow_none=True, validate=ma.validate.Length(min=4, max=80),
        metadata={"description": "The ID06 card number; kept only as a keyed hash. null "
                  "removes it."})


@blp.route("/customers/<uuid:customer_id>/members/<uuid:member_id>/id06-card",
           methods=["PUT"])
@blp.arguments(CardIn)
@blp.response(204)
def set_card(data: dict[str, Any], customer_id: uuid.UUID,
             member_id: uuid.UUID):
    """Enrol a member's ID06 card for the customer's kiosks (admins). Audited."""
    m = require_customer(customer_id, ADMIN)
    s = db_session()
    kiosk_ops.set_id06_card(s, get_member(s, customer_id, member_id), data["card_number"],
                            actor_id=m.account_id)
    return ""


# -------------------------------------------------------------------- inspections

class InspectionIn(InSchema):
    from_ = ma.fields.AwareDateTime(data_key="from", required=True)
    to = ma.fields.AwareDateTime(required=True)
    hours = ma.fields.Integer(
        load_default=None, allow_none=True, strict=True,
        validate=ma.validate.Range(1, inspection_ops.MAX_HOURS),
        metadata={"description": f"Valid for this many hours (default "
                  f"{inspection_ops.DEFAULT_HOURS})."})


InspectionOut = OutSchema.from_dict({
    "id": ma.fields.UUID(),
    "site_id": ma.fields.UUID(),
    "code": ma.fields.String(metadata={"description": "Shown once: give it to the inspector "
                                       "(GET /api/v1/inspections/{code}/ledger)."}),
    "from": ma.fields.DateTime(),
    "to": ma.fields.DateTime(),
    "expires_at": ma.fields.DateTime(),
}, name="InspectionOut")


class InspectionListArgs(PageArgs):
    status = ma.fields.String(
        load_default=None, validate=ma.validate.OneOf(inspection_ops.STATUSES),
        metadata={"description": "Only the accesses that are active (usable now), expired "
                  "or revoked."})


class InspectionItemOut(OutSchema):
    id = ma.fields.UUID()
    site_id = ma.fields.UUID()
    status = ma.fields.String(metadata={"description": "active, expired or revoked.",
                                        "example": "active"})
    from_ = ma.fields.DateTime(data_key="from", attribute="period_from",
                               metadata={"description": "The ledger period shown: from."})
    to = ma.fields.DateTime(attribute="period_to",
                            metadata={"description": "The ledger period shown: to."})
    expires_at = ma.fields.DateTime()
    revoked_at = ma.fields.DateTime(allow_none=True)
    last_used_at = ma.fields.DateTime(
        allow_none=True, metadata={"description": "When the inspector last opened it."})
    created_at = ma.fields.DateTime()
    created_by = ma.fields.UUID(attribute="created_by_id", allow_none=True,
                                metadata={"description": "The admin who issued it."})


InspectionPage = page_schema(InspectionItemOut, "InspectionPage")


@blp.route("/customers/<uuid:customer_id>/sites/<uuid:site_id>/inspections")
class Inspections(MethodView):
    @blp.arguments(InspectionListArgs, location="query", unknown=ma.RAISE)
    @blp.response(200, InspectionPage)
    def get(self, args: dict[str, Any], customer_id: uuid.UUID,
            site_id: uuid.UUID):
        """The site's inspectors' accesses, newest first, paged (admins): when each was
        issued, by whom, for which period, until when, whether revoked and when last used.
        Never the codes (kept only as keyed hashes)."""
        require_customer(customer_id, ADMIN)
        s = db_session()
        now = clock.now()
        stmt = inspection_ops.site_inspections(site_ops.get_site(s, customer_id, site_id),
                                               status=args["status"], now=now)
        page = keyset_page(s, stmt, [Inspection.created_at, Inspection.id],
                           limit=args["limit"], cursor=args["cursor"])
        page["items"] = [{**{f: getattr(i, f) for f in _INSPECTION_FIELDS},
                          "status": inspection_ops.status_of(i, now)} for i in page["items"]]
        return page

    @blp.arguments(InspectionIn)
    @blp.response(201, InspectionOut)
    def post(self, data: dict[str, Any], customer_id: uuid.UUID,
             site_id: uuid.UUID):
        """An inspector's read-only access to the site's ledger for `from`..`to` and to who
        is on site at the time of viewing, by a short code, for `hours` (admins). Audited."""
        m = require_customer(customer_id, ADMIN)
        s = db_session()
        made = inspection_ops.create_inspection(
            s, site_ops.get_site(s, customer_id, site_id), start=data["from_"],
            end=data["to"], hours=data["hours"], actor_id=m.account_id)
        i = made.inspection
        return {"id": i.id, "site_id": i.site_id, "code": made.code, "from": i.period_from,
                "to": i.period_to, "expires_at": i.expires_at}


_INSPECTION_FIELDS = ("id", "site_id", "period_from", "period_to", "expires_at", "revoked_at",
                      "last_used_at", "created_at", "created_by_id")


@blp.route("/customers/<uuid:customer_id>/sites/<uuid:site_id>/inspections/"
           "<uuid:inspection_id>", methods=["DELETE"])
@blp.response(204)
def revoke_inspection(customer_id: uuid.UUID, site_id: uuid.UUID,
                      inspection_id: uuid.UUID):
    """Revoke an inspector's access (admins): the code answers 404 from now on. Audited."""
    m = require_customer(customer_id, ADMIN)
    s = db_session()
    inspection_ops.revoke_inspection(s, site_ops.get_site(s, customer_id, site_id),
                                     inspection_id, actor_id=m.account_id)
    return ""
