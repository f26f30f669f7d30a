"""The personnel ledger (personalliggare) of one site, for the customer's admins.

Streamed (JSON or CSV) from a server-side cursor, so a year of a large site exports in
constant memory. The identity numbers in it are in clear, so before the first byte is sent
every person in it gets an ``identity_number.read`` audit record (committed with the request's
transaction, before streaming starts: no ledger leaves without its audit trail).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import marshmallow as ma
from flask import Response, stream_with_context
from sqlalchemy import select

from api.access import ADMIN, require_customer
from api.base import Blueprint, OutSchema, QuerySchema
from entryfy.errors import NotFound
from entryfy.ops import entries as ops
from entryfy.web import db_session
from models import Site
from privacy import audit

blp = Blueprint("ledger", __name__, url_prefix="/api/v1",
                description="The personnel ledger of a site")

COLUMNS = (
    "entry_id", "ledger_id", "name", "identity_number", "employer_name", "employer_org_nr",
    "checked_in_at", "checked_out_at", "corrected", "original_checked_in_at",
    "original_checked_out_at", "registered_at", "registered_by", "source", "auto_checkout",
)


class LedgerArgs(QuerySchema):
    from_ = ma.fields.AwareDateTime(data_key="from", required=True)
    to = ma.fields.AwareDateTime(required=True)
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(["json", "csv"]))

    @ma.validates_schema
    def _range(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "from_" in data and "to" in data and data["to"] <= data["from_"]:
            raise ma.ValidationError("'to' must be after 'from'.", "to")


class LedgerRowOut(OutSchema):
    entry_id = ma.fields.UUID()
    ledger_id = ma.fields.String(allow_none=True)
    name = ma.fields.String(allow_none=True)
    identity_number = ma.fields.String(allow_none=True)
    employer_name = ma.fields.String(allow_none=True)
    employer_org_nr = ma.fields.String(allow_none=True)
    checked_in_at = ma.fields.DateTime()
    checked_out_at = ma.fields.DateTime(allow_none=True)
    corrected = ma.fields.Boolean()
    original_checked_in_at = ma.fields.DateTime(allow_none=True)
    original_checked_out_at = ma.fields.DateTime(allow_none=True)
    registered_at = ma.fields.DateTime(
        allow_none=True, metadata={"description": "When the entry reached Entryfy; "
                                   "checked_in_at is the time claimed (late or offline)."})
    registered_by = ma.fields.UUID(
        allow_none=True, metadata={"description": "The account that registered it for the "
                                   "person (a foreman); null: the person or a device."})
    source = ma.fields.String(metadata={"description": "app, door, kiosk or admin."})
    auto_checkout = ma.fields.Boolean(
        metadata={"description": "Closed by the site's automatic check-out."})


# "from" is a Python keyword, hence the dict form.
LedgerOut = OutSchema.from_dict({
    "site_id": ma.fields.UUID(),
    "ledger_id": ma.fields.String(allow_none=True),
    "site_name": ma.fields.String(),
    "site_address": ma.fields.String(allow_none=True),
    "customer_id": ma.fields.UUID(),
    "from": ma.fields.DateTime(),
    "to": ma.fields.DateTime(),
    "items": ma.fields.List(ma.fields.Nested(LedgerRowOut)),
}, name="LedgerOut")


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None else None


def _record(row: ops.LedgerRow) -> dict[str, Any]:
    name = " ".join(p for p in (row.first_name, row.last_name) if p) or None
    return {
        "entry_id": str(row.entry_id), "ledger_id": row.ledger_id, "name": name,
        "identity_number": row.identity_number, "employer_name": row.employer_name,
        "employer_org_nr": row.employer_org_nr, "checked_in_at": _iso(row.checked_in_at),
        "checked_out_at": _iso(row.checked_out_at), "corrected": row.corrected,
        "original_checked_in_at": _iso(row.original_checked_in_at),
        "original_checked_out_at": _iso(row.original_checked_out_at),
        "registered_at": _iso(row.registered_at),
        "registered_by": str(row.registered_by_id) if row.registered_by_id else None,
        "source": row.source, "auto_checkout": row.auto_checkout,
    }


def _json_stream(head: dict[str, Any], rows: Iterable[ops.LedgerRow]) -> Iterator[str]:
    yield json.dumps(head)[:-1] + ', "items": ['
    sep = ""
    for row in rows:
        yield sep + json.dumps(_record(row), ensure_ascii=False)
        sep = ","
    yield "]}"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    # A name typed as "=HYPERLINK(...)" must not become a formula in a spreadsheet.
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_stream(rows: Iterable[ops.LedgerRow]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    for i, row in enumerate(rows, 1):
        rec = _record(row)
        rec["corrected"] = "yes" if row.corrected else "no"
        rec["auto_checkout"] = "yes" if row.auto_checkout else "no"
        writer.writerow([_cell(rec[c]) for c in COLUMNS])
        if i % 200 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


@blp.route("/customers/<uuid:customer_id>/sites/<uuid:site_id>/ledger", methods=["GET"])
@blp.arguments(LedgerArgs, location="query", unknown=ma.RAISE)
@blp.response(200, LedgerOut, description="The ledger as JSON, or as CSV (UTF-8, a header "
              "row) with format=csv.")
@blp.alt_response(200, schema=ma.Schema.from_dict({}, name="LedgerCsv"),
                  content_type="text/csv",
                  description="The ledger: JSON, or CSV (UTF-8, a header row) with format=csv.")
def ledger(args: dict[str, Any], customer_id: uuid.UUID,
           site_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """The personnel ledger: one row per shift that began in `from`..`to` (UTC), oldest
    first, with the identity numbers in clear (every person's is audited as read), the
    employer of the day, and for a corrected shift its original times."""
    membership = require_customer(customer_id, ADMIN)
    s = db_session()
    site = s.scalar(select(Site).where(Site.id == site_id, Site.customer_id == customer_id))
    if site is None:
        raise NotFound("No such site.")
    start, end = args["from_"], args["to"]
    actor = membership.account_id
    audit.record(s, action="entries.read", customer_id=customer_id, actor_id=actor,
                 actor_role="admin", object_type="ledger", object_id=site.id)
    for subject in ops.ledger_subjects(s, site, start, end):
        audit.record(s, action="identity_number.read", customer_id=customer_id,
                     actor_id=actor, actor_role="admin", subject_id=subject,
                     object_type="ledger", object_id=site.id)
    rows = ops.ledger_rows(s, site, start, end)
    headers = {"Cache-Control": "no-store"}
    if args["format"] == "csv":
        headers["Content-Disposition"] = f'attachment; filename="ledger-{site.id}.csv"'
        return Response(stream_with_context(_csv_stream(rows)),
                        mimetype="text/csv", headers=headers)
    head = {"site_id": str(site.id), "ledger_id": site.ledger_id, "site_name": site.name,
            "site_address": site.address, "customer_id": str(customer_id),
            "from": start.isoformat(), "to": end.isoformat()}
    return Response(stream_with_context(_json_stream(head, rows)),
                    mimetype="application/json", headers=headers)
