"""Data-subject rights over HTTP: register extract, requests, erasure preview, customers'
decisions on their part, customer export and offboarding. The rules live in privacy/."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import marshmallow as ma
from flask import Response, current_app, stream_with_context
from flask.views import MethodView
from flask_limiter.util import get_remote_address
from flask_login import current_user
from sqlalchemy import select

from api.access import ADMIN, require_customer, require_staff
from api.base import (
    Blueprint,
    InSchema,
    OutSchema,
    PageArgs,
    QuerySchema,
    keyset_page,
    page_schema,
)
from api.throttle import current_password_checks
from entryfy import clock, web
from entryfy.auth import current_account
from entryfy.errors import NotFound
from entryfy.extensions import limiter
from entryfy.ops.auditing import record_read
from entryfy.web import database, db_session
from models import Account, Customer, DataRequest, DataRequestPart
from models.tenancy import TenantContext, system_scope
from models.vocab import PART_STATUSES, REQUEST_TYPES
from privacy import erasure, erasure_flow, export, offboarding
from privacy import requests as dsr

blp = Blueprint("privacy_rights", __name__, url_prefix="/api/v1",
                description="Data-subject rights, customers' part in them, offboarding")

TEXT = ma.validate.Length(max=4000)


def _limit(name: str, default: str):
    return lambda: current_app.config.get(name) or os.environ.get(name, default)


def _account_key() -> str:
    if current_user.is_authenticated:
        return f"account:{current_user.get_id()}"
    return f"ip:{get_remote_address()}"


def _email_key() -> str:
    from flask import request

    from entryfy.security import sha256_hex

    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    return sha256_hex(email.strip().lower()) if isinstance(email, str) else "no-email"


# ------------------------------------------------------------------ schemas

class ExportArgs(QuerySchema):
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(["json", "zip"]))


class CustomerExportArgs(QuerySchema):
    format = ma.fields.String(load_default="jsonl",
                              validate=ma.validate.OneOf(["jsonl", "zip"]))


class RequestIn(InSchema):
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(REQUEST_TYPES))
    details = ma.fields.String(load_default=None, allow_none=True, validate=TEXT)
    password = ma.fields.String(required=True, load_only=True,
                                validate=ma.validate.Length(min=1, max=256))


class IdempotencyArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    idempotency_key = ma.fields.String(
        load_default=None, data_key="Idempotency-Key",
        validate=[ma.validate.Length(min=1, max=100), ma.validate.Regexp(r"^[\x21-\x7e]+$")],
        metadata={"description": "The same key again makes no second request."})


class OutsideRequestIn(InSchema):
    email = ma.fields.Email(required=True, validate=ma.validate.Length(max=254))
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(REQUEST_TYPES))
    details = ma.fields.String(load_default=None, allow_none=True, validate=TEXT)


class VerificationOut(OutSchema):
    verification_id = ma.fields.UUID()
    expires_at = ma.fields.DateTime()
    detail = ma.fields.String()


class VerifyIn(InSchema):
    verification_id = ma.fields.UUID(required=True)
    code = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^\s*\d{6}\s*$"))


class PartOut(OutSchema):
    id = ma.fields.UUID()
    customer_id = ma.fields.UUID()
    customer_name = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    due_at = ma.fields.DateTime()
    decided_at = ma.fields.DateTime(allow_none=True)
    reason = ma.fields.String(allow_none=True)
    outcome = ma.fields.String(allow_none=True)


class EventOut(OutSchema):
    at = ma.fields.DateTime()
    action = ma.fields.String()
    status = ma.fields.String(allow_none=True)
    role = ma.fields.String(allow_none=True)
    customer_id = ma.fields.UUID(allow_none=True)
    note = ma.fields.String(allow_none=True)


class RequestOut(OutSchema):
    id = ma.fields.UUID()
    type = ma.fields.String()
    status = ma.fields.String()
    due_at = ma.fields.DateTime()
    received_at = ma.fields.DateTime()
    details = ma.fields.String(allow_none=True)
    extended_months = ma.fields.Integer()
    extension_reason = ma.fields.String(allow_none=True)
    closed_at = ma.fields.DateTime(allow_none=True)
    outcome = ma.fields.String(allow_none=True)
    parts = ma.fields.List(ma.fields.Nested(PartOut))
    history = ma.fields.List(ma.fields.Nested(EventOut))


class RequestList(OutSchema):
    items = ma.fields.List(ma.fields.Nested(RequestOut))


class SubjectOut(OutSchema):
    account_id = ma.fields.UUID(allow_none=True)
    first_name = ma.fields.String(allow_none=True)
    last_name = ma.fields.String(allow_none=True)


class CustomerRequestOut(OutSchema):
    id = ma.fields.Function(lambda p: p.request_id)
    part_id = ma.fields.Function(lambda p: p.id)
    type = ma.fields.Function(lambda p: p._req.type)
    request_status = ma.fields.Function(lambda p: p._req.status)
    details = ma.fields.Function(lambda p: p._req.details)
    received_at = ma.fields.Function(lambda p: p._req.received_at.isoformat())
    status = ma.fields.String()
    due_at = ma.fields.DateTime()
    decided_at = ma.fields.DateTime(allow_none=True)
    reason = ma.fields.String(allow_none=True)
    outcome = ma.fields.String(allow_none=True)
    subject = ma.fields.Function(lambda p: SubjectOut().dump(p._subject))


class CustomerRequestArgs(PageArgs):
    status = ma.fields.String(load_default=None,
                              validate=ma.validate.OneOf(PART_STATUSES))


class DecisionIn(InSchema):
    decision = ma.fields.String(required=True, validate=ma.validate.OneOf(["approve", "deny"]))
    reason = ma.fields.String(load_default=None, allow_none=True, validate=TEXT)


class ExtensionIn(InSchema):
    months = ma.fields.Integer(required=True, validate=ma.validate.Range(1, 2))
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=4000))


class OffboardingIn(InSchema):
    grace_days = ma.fields.Integer(load_default=offboarding.GRACE_DAYS_DEFAULT,
                                   validate=ma.validate.Range(0, 365))


class OffboardingOut(OutSchema):
    customer_id = ma.fields.UUID()
    status = ma.fields.String()
    started_at = ma.fields.DateTime()
    grace_until = ma.fields.DateTime()
    last_export_at = ma.fields.DateTime(allow_none=True)
    last_export_sha256 = ma.fields.String(allow_none=True)
    exports = ma.fields.List(ma.fields.Dict(), metadata={
        "description": "Every export of the customer's data: at, sha256, format, rows"})
    purged_at = ma.fields.DateTime(allow_none=True)
    certificate = ma.fields.Dict(allow_none=True)
    certificate_sha256 = ma.fields.String(allow_none=True)


# ------------------------------------------------------------------ the person

@blp.route("/me/export", methods=["GET"])
@limiter.limit(_limit("PRIVACY_EXPORT_LIMIT", "5 per hour"), key_func=_account_key,
               scope="me-export")
@blp.arguments(ExportArgs, location="query")
@blp.response(200, description="The register extract (JSON), or a zip with JSON and CSVs")
def my_export(args: dict[str, Any]):
    """The register extract (GDPR Art. 15 and 20).

    Everything held about the person, in every customer, with what, why and for how long
    (`?format=zip`: JSON and CSV files). Throttled per person.
    """
    account = current_account()
    doc = export.person_export(db_session(), account)
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    if args["format"] == "zip":
        return Response(export.person_export_zip(doc), mimetype="application/zip", headers={
            "Content-Disposition": f'attachment; filename="entryfy-export-{stamp}.zip"'})
    return Response(json.dumps(doc, ensure_ascii=False), mimetype="application/json")


@blp.route("/me/erasure-preview", methods=["GET"])
@blp.response(200, description="What erasure would delete, anonymise and keep, and why")
def my_erasure_preview():
    """What erasure would delete, and what it would keep.

    Per category: deleted now, or kept under a legal hold (e.g. the personnel ledger) until
    its own period ends, with the reason.
    """
    account = current_account()
    return erasure.preview(db_session(), account)


@blp.route("/me/requests")
class MyRequests(MethodView):
    @blp.response(200, RequestList)
    def get(self):
        """The person's data-subject requests.

        Newest first, each with its status, due date and the customers' decisions.
        """
        account = current_account()
        return {"items": dsr.for_account(db_session(), account.id)}

    @limiter.limit(_limit("PRIVACY_REQUEST_LIMIT", "10 per hour"), key_func=_account_key,
                   scope="me-requests")
    @current_password_checks()
    @blp.arguments(RequestIn)
    @blp.arguments(IdempotencyArgs, location="headers")
    @blp.response(201, RequestOut)
    @blp.alt_response(200, schema=RequestOut,
                      description="The same Idempotency-Key again: the request it made.")
    def post(self, data, headers):
        """Make a request. With an `Idempotency-Key`, the same key again (also two at once)
        answers 200 with the request the first one made; the same key with another type or
        other details is refused (409 `idempotency-key-reused`). An erasure is carried out at once
        when no customer has to decide (503 with Retry-After if the evidence store is down:
        the request stays open)."""
        account = current_account()
        # What this request did so far commits first; the request has units of work of its own.
        web.settle()
        out, created = erasure_flow.submit(
            database(), account, data["type"], data.get("details"), data["password"],
            idempotency_key=headers.get("idempotency_key"))
        return out, (201 if created else 200)


@blp.route("/privacy/requests", methods=["POST"])
@limiter.limit(_limit("PRIVACY_OUTSIDE_LIMIT_IP", "10 per hour"), key_func=get_remote_address,
               scope="outside-request-ip")
@limiter.limit(_limit("PRIVACY_OUTSIDE_LIMIT_EMAIL", "3 per hour"), key_func=_email_key,
               scope="outside-request-email")
@blp.arguments(OutsideRequestIn)
@blp.response(202, VerificationOut)
def outside_request(data):
    """A request without signing in: a one-time code goes to the account's address."""
    ver = dsr.submit_from_outside(db_session(), data["email"], data["type"], data.get("details"))
    return {"verification_id": ver.id, "expires_at": ver.expires_at,
            "detail": "If an account uses this address, a confirmation code was sent to it."}


@blp.route("/privacy/requests/verify", methods=["POST"])
@limiter.limit(_limit("PRIVACY_VERIFY_LIMIT_IP", "30 per hour"), key_func=get_remote_address,
               scope="outside-verify-ip")
@blp.arguments(VerifyIn)
@blp.response(200, RequestOut)
@blp.problems("verification-not-found", "code-used",
              "code-expired", "code-attempts-exhausted", "code-wrong")
def verify_outside_request(data):
    # Its own unit of work, committed even when the code is wrong: every try counts.
    """Confirm a request made without signing in.

    The one-time code from the e-mail verifies the request; a wrong code counts against
    `tries_left`.
    """
    web.settle()
    return erasure_flow.confirm_from_outside(database(), data["verification_id"], data["code"])


@blp.route("/privacy/requests/<uuid:request_id>/extension", methods=["POST"])
@blp.arguments(ExtensionIn)
@blp.response(200, RequestOut)
@blp.problems("staff-only", "request-closed", "already-extended")
def extend_request(data, request_id: uuid.UUID):
    """The vendor extends a request once by up to two months; the person is told why."""
    require_staff("platform_admin")
    s = db_session()
    req = s.get(DataRequest, request_id)
    if req is None:
        raise NotFound("No such request.")
    dsr.extend(s, req, months=data["months"], reason=data["reason"])
    return dsr.describe(s, req)


class DenialIn(InSchema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=4000))


@blp.route("/privacy/requests/<uuid:request_id>/denial", methods=["POST"])
@blp.arguments(DenialIn)
@blp.response(200, RequestOut)
@blp.problems("staff-only", "request-closed")
def deny_request(data, request_id: uuid.UUID):
    """The vendor refuses a request (e.g. manifestly unfounded, Art. 12(5)); the person is told
    why and where to complain."""
    require_staff("platform_admin")
    s = db_session()
    req = s.get(DataRequest, request_id)
    if req is None:
        raise NotFound("No such request.")
    dsr.deny(s, req, reason=data["reason"])
    return dsr.describe(s, req)


# ------------------------------------------------------------------ a customer's part

def _decorate(s, parts: list[DataRequestPart]) -> list[DataRequestPart]:
    reqs = {r.id: r for r in s.scalars(select(DataRequest).where(
        DataRequest.id.in_([p.request_id for p in parts])))}
    people = {a.id: a for a in s.scalars(select(Account).where(
        Account.id.in_([p.account_id for p in parts if p.account_id])))}
    # Plain attributes for CustomerRequestOut (this answer only), never columns.
    for p in parts:
        p._req = reqs[p.request_id]  # type: ignore[attr-defined]  # see above
        a = people.get(p.account_id) if p.account_id else None
        p._subject = {"account_id": p.account_id,  # type: ignore[attr-defined]  # see above
                      "first_name": a.first_name if a else None,
                      "last_name": a.last_name if a else None}
    return parts


@blp.route("/customers/<uuid:customer_id>/requests", methods=["GET"])
@blp.arguments(CustomerRequestArgs, location="query")
@blp.response(200, page_schema(CustomerRequestOut, "CustomerRequestPage"))
def customer_requests(args, customer_id: uuid.UUID):
    """Data-subject requests concerning the customer's data.

    The parts waiting for (or given) the customer's decision, with the person's name.
    """
    require_customer(customer_id, ADMIN)
    s = db_session()
    stmt = select(DataRequestPart).where(DataRequestPart.customer_id == customer_id)
    if args.get("status"):
        stmt = stmt.where(DataRequestPart.status == args["status"])
    page = keyset_page(s, stmt, [DataRequestPart.created_at, DataRequestPart.id],
                       limit=args["limit"], cursor=args["cursor"])
    page["items"] = _decorate(s, page["items"])
    return page


@blp.route("/customers/<uuid:customer_id>/requests/<uuid:request_id>/decision",
           methods=["POST"])
@blp.arguments(DecisionIn)
@blp.response(200, CustomerRequestOut)
@blp.problems("already-decided", "not-waiting")
def customer_decision(data, customer_id: uuid.UUID, request_id: uuid.UUID):
    """Decide a data-subject request for the customer's data.

    `approve` carries it out on the customer's data (legal holds kept); `deny` needs a
    `reason`, told to the person.
    """
    member = require_customer(customer_id, ADMIN)
    s = db_session()
    part = s.scalar(select(DataRequestPart).where(DataRequestPart.customer_id == customer_id,
                                                  DataRequestPart.request_id == request_id))
    if part is None:
        raise NotFound("No such request.")
    part_id = part.id
    # The decision commits first; an approved erasure then runs in steps of its own.
    web.settle()
    db = database()
    ctx = TenantContext(customer_ids=frozenset({customer_id}))
    erasure_flow.decide_part(db, ctx, part_id, decision=data["decision"],
                             reason=data.get("reason"), actor_id=member.account_id)
    with db.transaction(ctx) as t, system_scope(t, "the decided part, after erasure ran"):
        return _decorate(t, [t.get_one(DataRequestPart, part_id)])[0]


# ------------------------------------------------------------------ a customer's data set

@blp.route("/customers/<uuid:customer_id>/export", methods=["GET"])
@limiter.limit(_limit("CUSTOMER_EXPORT_LIMIT", "10 per hour"), key_func=_account_key,
               scope="customer-export")
@blp.arguments(CustomerExportArgs, location="query")
@blp.response(200, description="Every tenant table of the customer, streamed")
def customer_export(args, customer_id: uuid.UUID):
    """The customer's whole data set, streamed.

    Every tenant table as JSON lines (`?format=zip`: one file per table), for the customer
    as controller. Audited and throttled.
    """
    member = require_customer(customer_id, ADMIN)
    record_read(db_session(), member, "customer.export", customer_id=customer_id,
                object_type="customer", object_id=customer_id)
    fmt = args["format"]
    db = database()

    def body():
        # Its own unit of work: the request's session has committed by the time this runs.
        with db.transaction(TenantContext(customer_ids=frozenset({customer_id}))) as s:
            def done(sha: str, counts: dict[str, int]) -> None:
                offboarding.record_export(s, customer_id, sha, fmt=fmt,
                                          rows=sum(counts.values()))

            yield from export.customer_export(s, customer_id, fmt=fmt, on_done=done)

    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    ext = "zip" if fmt == "zip" else "jsonl"
    return Response(stream_with_context(body()),
                    mimetype="application/zip" if fmt == "zip" else "application/x-ndjson",
                    headers={"Content-Disposition":
                             f'attachment; filename="customer-{customer_id}-{stamp}.{ext}"'})


@blp.route("/customers/<uuid:customer_id>/offboarding")
class Offboarding(MethodView):
    @blp.response(200, OffboardingOut)
    def get(self, customer_id: uuid.UUID):
        """The customer's offboarding, if any.

        When the contract ended, the grace period and when the data is purged.
        """
        require_staff("platform_admin")
        return offboarding.certificate(db_session(), customer_id)

    @blp.arguments(OffboardingIn)
    @blp.response(201, OffboardingOut)
    @blp.problems("already-offboarding", "staff-only")
    def post(self, data, customer_id: uuid.UUID):
        """Start offboarding the customer.

        The contract ends: after `grace_days` the customer's data is purged (legal holds kept)
        and a deletion certificate is made.
        """
        staff = require_staff("platform_admin")
        s = db_session()
        if s.get(Customer, customer_id) is None:
            raise NotFound("No such customer.")
        offboarding.start(s, customer_id, actor_id=staff.id, grace_days=data["grace_days"])
        return offboarding.certificate(s, customer_id)
