"""Attendance over HTTP: check-in and check-out from the app, own entries, the admin's list,
one entry with its correction history, and corrections. Rules live in entryfy.ops.entries."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import marshmallow as ma
from flask import request
from sqlalchemy import select

from api.access import ADMIN, member_customer_ids, require_customer
from api.base import Blueprint, InSchema, OutSchema, PageArgs, keyset_page, page_schema
from entryfy.auth import current_account, current_account_id
from entryfy.errors import NotFound
from entryfy.ops import entries as ops
from entryfy.ops import names
from entryfy.ops.auditing import record_read
from entryfy.web import db_session
from models import Entry, EntryCorrection, Membership
from models.tenancy import scope_to

blp = Blueprint("entries", __name__, url_prefix="/api/v1",
                description="Check-in and check-out at sites; entries and corrections")

LATITUDE = ma.validate.Range(-90, 90)
LONGITUDE = ma.validate.Range(-180, 180)
# A phone reporting worse than this is not locating anything; geo.py gives no credit beyond
# MAX_ACCEPTED_ACCURACY_M anyway, this bound only keeps the input sane.
ACCURACY = ma.validate.Range(0, 100_000)


class IdempotencyHeader(ma.Schema):
    """The app's retry key: a retried tap with the same key returns the first entry."""

    class Meta:
        unknown = ma.EXCLUDE  # every other header

    idempotency_key = ma.fields.String(
        required=True, data_key="Idempotency-Key",
        validate=[ma.validate.Length(min=1, max=ops.MAX_IDEMPOTENCY_KEY),
                  # Visible ASCII only: a key is an opaque token (a UUID, typically).
                  ma.validate.Regexp(r"^[\x21-\x7e]+$")],
    )


class CheckInIn(InSchema):
    site_id = ma.fields.UUID(required=True)
    latitude = ma.fields.Float(required=True, validate=LATITUDE)
    longitude = ma.fields.Float(required=True, validate=LONGITUDE)
    accuracy_m = ma.fields.Float(load_default=None, allow_none=True, validate=ACCURACY)
    member_id = ma.fields.UUID(
        metadata={"description": "A foreman (or admin) registering a colleague: the "
                  "colleague's member id. The entry keeps registered_by."})
    occurred_at = ma.fields.AwareDateTime(
        metadata={"description": "A late or offline registration: the time the phone "
                  "recorded; kept as checked_in_at, with registered_at beside it. Not in the "
                  "future, not before the membership, not older than the site's "
                  "late_registration_hours (422 otherwise)."})


class CheckOutIn(InSchema):
    latitude = ma.fields.Float(load_default=None, allow_none=True, validate=LATITUDE)
    longitude = ma.fields.Float(load_default=None, allow_none=True, validate=LONGITUDE)
    accuracy_m = ma.fields.Float(load_default=None, allow_none=True, validate=ACCURACY)

    @ma.validates_schema
    def _both_or_neither(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data.get("latitude") is None) != (data.get("longitude") is None):
            raise ma.ValidationError("Send latitude and longitude together, or neither.",
                                     "latitude")


class PersonEntryOut(OutSchema):
    id = ma.fields.UUID()
    customer_id = ma.fields.UUID()
    site_id = ma.fields.UUID()
    checked_in_at = ma.fields.DateTime()
    checked_out_at = ma.fields.DateTime(allow_none=True)
    inside_geofence = ma.fields.Boolean(allow_none=True)
    distance_m = ma.fields.Integer(allow_none=True)
    checkout_inside_geofence = ma.fields.Boolean(allow_none=True)
    source = ma.fields.String()
    registered_at = ma.fields.DateTime(
        attribute="created_at",
        metadata={"description": "When the entry reached Entryfy (checked_in_at: claimed)."})
    registered_by = ma.fields.UUID(
        attribute="registered_by_id", allow_none=True,
        metadata={"description": "Who registered it for the person (a foreman); null: the "
                  "person, a door or a kiosk."})
    auto_checkout = ma.fields.Boolean(
        metadata={"description": "Closed by the site's automatic check-out."})


class AdminEntryOut(PersonEntryOut):
    account_id = ma.fields.UUID(allow_none=True)
    member_id = ma.fields.UUID(allow_none=True)
    employer_name = ma.fields.String(allow_none=True)
    employer_org_nr = ma.fields.String(allow_none=True)
    corrected = ma.fields.Boolean()
    restricted = ma.fields.Boolean()
    person_name = ma.fields.String(allow_none=True)
    site_name = ma.fields.String(allow_none=True)


class CorrectionOut(OutSchema):
    id = ma.fields.UUID()
    created_at = ma.fields.DateTime()
    corrected_by_id = ma.fields.UUID(allow_none=True)
    before_checked_in_at = ma.fields.DateTime(allow_none=True)
    before_checked_out_at = ma.fields.DateTime(allow_none=True)
    after_checked_in_at = ma.fields.DateTime(allow_none=True)
    after_checked_out_at = ma.fields.DateTime(allow_none=True)
    reason = ma.fields.String()


class EntryDetailOut(AdminEntryOut):
    original_checked_in_at = ma.fields.DateTime()
    original_checked_out_at = ma.fields.DateTime(allow_none=True)
    corrections = ma.fields.List(ma.fields.Nested(CorrectionOut))


class CorrectionCreatedOut(CorrectionOut):
    entry = ma.fields.Nested(AdminEntryOut)


class CorrectionIn(InSchema):
    checked_in_at = ma.fields.AwareDateTime()
    checked_out_at = ma.fields.AwareDateTime()
    reason = ma.fields.String(required=True,
                              validate=ma.validate.Length(min=1, max=ops.MAX_REASON))

    @ma.validates_schema
    def _something(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "checked_in_at" not in data and "checked_out_at" not in data:
            raise ma.ValidationError("Give checked_in_at, checked_out_at or both.",
                                     "checked_in_at")
        if not data.get("reason", "x").strip():
            raise ma.ValidationError("Give a reason.", "reason")


class EntryFilter(PageArgs):
    site_id = ma.fields.UUID(load_default=None)
    from_ = ma.fields.AwareDateTime(data_key="from", load_default=None)
    to = ma.fields.AwareDateTime(load_default=None)
    account_id = ma.fields.UUID(load_default=None)
    member_id = ma.fields.UUID(load_default=None)
    open_only = ma.fields.Boolean(load_default=False)

    @ma.validates_schema
    def _range(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("from_") and data.get("to") and data["to"] <= data["from_"]:
            raise ma.ValidationError("'to' must be after 'from'.", "to")


def admin_entry(entry: Entry, corrected: bool, person_name: str | None = None,
                site_name: str | None = None) -> dict[str, Any]:
    return {
        "person_name": person_name, "site_name": site_name,
        "id": entry.id, "customer_id": entry.customer_id, "site_id": entry.site_id,
        "checked_in_at": entry.checked_in_at, "checked_out_at": entry.checked_out_at,
        "inside_geofence": entry.inside_geofence, "distance_m": entry.distance_m,
        "checkout_inside_geofence": entry.checkout_inside_geofence, "source": entry.source,
        "created_at": entry.created_at, "registered_by_id": entry.registered_by_id,
        "auto_checkout": entry.auto_checkout,
        "account_id": entry.account_id, "member_id": entry.membership_id,
        "employer_name": entry.employer_name, "employer_org_nr": entry.employer_org_nr,
        "corrected": corrected, "restricted": entry.restricted,
    }


def _scope_to_own_customers() -> None:
    # The person's sites across their customers: a cross-customer lookup limited to the
    # customers they currently belong to. Any other customer's site stays invisible (404).
    scope_to(db_session(), *member_customer_ids(current_account_id()))


# ------------------------------------------------------------------ the mobile app

@blp.route("/entries", methods=["POST"])
@blp.arguments(IdempotencyHeader, location="headers")
@blp.arguments(CheckInIn)
@blp.response(201, PersonEntryOut, description="Checked in: a new entry.")
@blp.alt_response(200, schema=PersonEntryOut,
                  description="The same Idempotency-Key again: the entry it made, unchanged.")
@blp.problems("outside-geofence", "identity-number-required",
              "already-checked-in", "idempotency-key-reused")
def check_in(headers: dict[str, Any], data: dict[str, Any]):
    """Check in at a site.

    201 with the new entry. The same `Idempotency-Key` again (also two at once): 200 with
    the entry the first one made, unchanged; the key reused for another site: 409
    `idempotency-key-reused`. Outside an enforcing geofence: 422 `outside-geofence` with
    `distance_m`. Already checked in at the site: 409 `already-checked-in` with `entry_id`.
    A site with a personnel ledger needs the person's identity number (422
    `identity-number-required`). Not a current member of the site's customer: 404.

    With `member_id` (a foreman or admin registering a colleague; other roles 403) and/or
    `occurred_at` (late or offline): 422 `occurred-in-future`, `occurred-before-membership`,
    `occurred-too-old` or `overlapping-shift` for a claim that cannot stand."""
    if "member_id" in data or "occurred_at" in data:
        # The slower path, only for these requests: the plain check-in below stays three
        # statements (docs/ARCHITECTURE.md, hot paths).
        _scope_to_own_customers()
        result = ops.check_in_registered(
            db_session(), actor_id=current_account_id(), site_id=data["site_id"],
            latitude=data["latitude"], longitude=data["longitude"],
            accuracy_m=data["accuracy_m"], idempotency_key=headers["idempotency_key"],
            member_id=data.get("member_id"), occurred_at=data.get("occurred_at"),
            ip=request.remote_addr,
        )
        return result.entry, (201 if result.created else 200)
    result = ops.check_in(
        db_session(), account_id=current_account_id(), site_id=data["site_id"],
        latitude=data["latitude"],
        longitude=data["longitude"], accuracy_m=data["accuracy_m"],
        idempotency_key=headers["idempotency_key"], ip=request.remote_addr,
    )
    return result.entry, (201 if result.created else 200)


@blp.route("/entries/<uuid:entry_id>/checkout", methods=["POST"])
@blp.arguments(CheckOutIn)
@blp.response(200, PersonEntryOut)
def check_out(data: dict[str, Any], entry_id: uuid.UUID):
    """Check out of one's own entry. Already checked out: the entry unchanged (a retry)."""
    account = current_account()
    _scope_to_own_customers()
    return ops.check_out(db_session(), account=account, entry_id=entry_id, **data)


@blp.route("/me/entries", methods=["GET"])
@blp.arguments(PageArgs, location="query", unknown=ma.RAISE)
@blp.response(200, page_schema(PersonEntryOut, "EntryPage"))
def my_entries(args: dict[str, Any]):
    """The person's own entries, newest first, at every customer."""
    return keyset_page(db_session(), ops.own_entries(current_account_id()),
                       [Entry.checked_in_at, Entry.id], limit=args["limit"],
                       cursor=args["cursor"])


# ---------------------------------------------------------------- customer admins

def _audit_read(customer_id: uuid.UUID, by: Membership, object_type: str,
                object_id: object | None = None, subject_id: uuid.UUID | None = None) -> None:
    record_read(db_session(), by, "entries.read", customer_id=customer_id,
                object_type=object_type, object_id=object_id, subject_id=subject_id)


@blp.route("/customers/<uuid:customer_id>/entries", methods=["GET"])
@blp.arguments(EntryFilter, location="query", unknown=ma.RAISE)
@blp.response(200, page_schema(AdminEntryOut, "AdminEntryPage"))
def customer_entries(args: dict[str, Any], customer_id: uuid.UUID):
    """The customer's entries, newest check-in first. Filters: `site_id`, `from`..`to`
    (check-in time), `account_id`, `member_id`, `open_only`. Audited."""
    membership = require_customer(customer_id, ADMIN)
    s = db_session()
    stmt = ops.customer_entries(
        customer_id, site_id=args["site_id"], start=args["from_"], end=args["to"],
        account_id=args["account_id"], member_id=args["member_id"],
        open_only=args["open_only"],
    )
    page = keyset_page(s, stmt, [Entry.checked_in_at, Entry.id], limit=args["limit"],
                       cursor=args["cursor"])
    if page["items"]:
        _audit_read(customer_id, membership, "entries",
                    object_id=args["site_id"], subject_id=args["account_id"])
    items = page["items"]
    corrected = ops.corrected_ids(s, [e.id for e in items])
    people = names.person_names(s, (e.account_id for e in items))
    sites = names.site_names(s, (e.site_id for e in items))
    return {"items": [admin_entry(e, e.id in corrected, people.get(e.account_id),
                                  sites.get(e.site_id)) for e in items],
            "next_cursor": page["next_cursor"]}


def _detail(entry: Entry, corrections: list[EntryCorrection]) -> dict[str, Any]:
    first = corrections[0] if corrections else None
    s = db_session()
    return {
        **admin_entry(entry, bool(corrections),
                      names.person_name(s, entry.account_id),
                      names.site_names(s, [entry.site_id]).get(entry.site_id)),
        "original_checked_in_at": first.before_checked_in_at if first else entry.checked_in_at,
        "original_checked_out_at": first.before_checked_out_at if first
        else entry.checked_out_at,
        "corrections": corrections,
    }


@blp.route("/customers/<uuid:customer_id>/entries/<uuid:entry_id>", methods=["GET"])
@blp.response(200, EntryDetailOut)
def customer_entry(customer_id: uuid.UUID, entry_id: uuid.UUID):
    """One entry: its current values, the original ones, and every correction. Audited."""
    membership = require_customer(customer_id, ADMIN)
    s = db_session()
    entry = s.scalar(select(Entry).where(Entry.id == entry_id, Entry.customer_id == customer_id))
    if entry is None:
        raise NotFound("No such entry.")
    _audit_read(customer_id, membership, "entry",
                object_id=entry.id, subject_id=entry.account_id)
    return _detail(entry, ops.corrections_of(s, entry))


@blp.route("/customers/<uuid:customer_id>/entries/<uuid:entry_id>/corrections",
           methods=["POST"])
@blp.arguments(CorrectionIn)
@blp.response(201, CorrectionCreatedOut)
@blp.problems("time-in-future", "checkout-before-checkin", "no-change", "overlapping-shift")
def correct(data: dict[str, Any], customer_id: uuid.UUID,
            entry_id: uuid.UUID):
    """Correct an entry's times (also: close an open one). Append-only: the before and after
    values, who, when and why stay readable. Check-out before check-in, times in the future
    or overlapping another shift: 422."""
    membership = require_customer(customer_id, ADMIN)
    s = db_session()
    entry = ops.load_for_correction(s, customer_id, entry_id)
    changes: dict[str, dt.datetime] = {k: data[k] for k in ("checked_in_at", "checked_out_at")
                                       if k in data}
    correction = ops.correct(s, entry=entry, actor_id=membership.account_id, changes=changes,
                             reason=data["reason"])
    return {
        "id": correction.id, "created_at": correction.created_at,
        "corrected_by_id": correction.corrected_by_id,
        "before_checked_in_at": correction.before_checked_in_at,
        "before_checked_out_at": correction.before_checked_out_at,
        "after_checked_in_at": correction.after_checked_in_at,
        "after_checked_out_at": correction.after_checked_out_at,
        "reason": correction.reason,
        "entry": admin_entry(entry, True),
    }
