"""The personnel ledger (personalliggare) of one site, for the customer's admins.

Streamed (JSON or CSV) from a server-side cursor, so a year of a large site exports in
constant memory. The identity numbers in it are in clear, so before the first byte is sent
every person in it gets an ``identity_number.read`` audit record (committed with the request's
transaction, before streaming starts: no ledger leaves without its audit trail).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import marshmallow as ma
from flask import Response, request
from sqlalchemy import select

from api.access import ADMIN, require_customer
from api.base import Blueprint, OutSchema, QuerySchema
from api.printing import cell
from entryfy.errors import NotFound, ValidationFailed
from entryfy.ops import entries as ops
from entryfy.web import db_session, streamed
from models import Site
from models.vocab import LANGUAGES

blp = Blueprint("ledger", __name__, url_prefix="/api/v1",
                description="The personnel ledger of a site")

DIALECTS = {"rfc4180", "excel-sv"}

COLUMNS = (
    "entry_id", "ledger_id", "name", "identity_number", "employer_name", "employer_org_nr",
    "checked_in_at", "checked_out_at", "corrected", "original_checked_in_at",
    "original_checked_out_at", "registered_at", "registered_by", "source", "auto_checkout",
)


class DateOrTime(ma.fields.Field):
    """A date (``YYYY-MM-DD``, a day in the site's time zone) or an ISO 8601 time with an
    offset. Loads as a ``date`` or an aware ``datetime``; the view places dates in the site's
    time zone once it has loaded the site."""

    default_error_messages = {"invalid": "A date (YYYY-MM-DD) or a time with an offset.",
                              "range": "A year from 1970 to 2100."}
    # Outside these, time zones fall back to local mean time (offsets with seconds, e.g.
    # +01:12:12 in Stockholm before 1879), which no ISO 8601 date-time can write.
    YEARS = range(1970, 2101)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and len(value) == 10:
            try:
                parsed: dt.date = dt.date.fromisoformat(value)
            except ValueError:
                raise self.make_error("invalid") from None
        else:
            parsed = ma.fields.AwareDateTime()._deserialize(value, attr, data, **kwargs)
        if parsed.year not in self.YEARS:
            raise self.make_error("range")
        return parsed


class LedgerArgs(QuerySchema):
    # Documented as date-time (what most clients send); the description names the dates.
    from_ = DateOrTime(data_key="from", required=True,
                       metadata={"type": "string", "format": "date-time",
                                 "description": "A time with an offset, or a date "
                                 "(YYYY-MM-DD: from the start of that day in the site's "
                                 "time zone)."})
    to = DateOrTime(required=True,
                    metadata={"type": "string", "format": "date-time",
                              "description": "A time with an offset (exclusive), or a date "
                              "(YYYY-MM-DD: up to the end of that day in the site's time "
                              "zone, inclusive)."})
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(["json", "csv"]))
    dialect = ma.fields.String(
        load_default=None, validate=ma.validate.OneOf(sorted(DIALECTS)),
        metadata={"description": "CSV flavour. `excel-sv`: UTF-8 with a byte-order mark, `;` "
                  "between cells and local times as `YYYY-MM-DD HH:MM:SS`, which Excel set to "
                  "Swedish opens correctly. `rfc4180`: `,` and ISO 8601 times. Default: "
                  "`excel-sv` when Accept-Language prefers Swedish, else `rfc4180`."})


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
    "timezone": ma.fields.String(metadata={
        "description": "The site's time zone (IANA): every time in the ledger is local to it.",
        "example": "Europe/Stockholm"}),
    "from": ma.fields.DateTime(),
    "to": ma.fields.DateTime(),
    "items": ma.fields.List(ma.fields.Nested(LedgerRowOut)),
}, name="LedgerOut")


def _local(tz: zoneinfo.ZoneInfo, excel: bool = False) -> Callable[[Any], str | None]:
    """Times in the site's time zone, whole seconds: ISO 8601 with the offset, or for Excel
    the plain local form it recognises as a date and time."""
    def fmt(value: dt.datetime | None) -> str | None:
        if value is None:
            return None
        local = value.astimezone(tz).replace(microsecond=0)
        return local.strftime("%Y-%m-%d %H:%M:%S") if excel else local.isoformat()
    return fmt


def _record(row: ops.LedgerRow, when: Callable[[Any], str | None]) -> dict[str, Any]:
    name = " ".join(p for p in (row.first_name, row.last_name) if p) or None
    return {
        "entry_id": str(row.entry_id), "ledger_id": row.ledger_id, "name": name,
        "identity_number": row.identity_number, "employer_name": row.employer_name,
        "employer_org_nr": row.employer_org_nr, "checked_in_at": when(row.checked_in_at),
        "checked_out_at": when(row.checked_out_at), "corrected": row.corrected,
        "original_checked_in_at": when(row.original_checked_in_at),
        "original_checked_out_at": when(row.original_checked_out_at),
        "registered_at": when(row.registered_at),
        "registered_by": str(row.registered_by_id) if row.registered_by_id else None,
        "source": row.source, "auto_checkout": row.auto_checkout,
    }


def _json_stream(head: dict[str, Any], rows: Iterable[ops.LedgerRow],
                 when: Callable[[Any], str | None]) -> Iterator[str]:
    yield json.dumps(head)[:-1] + ', "items": ['
    sep = ""
    for row in rows:
        yield sep + json.dumps(_record(row, when), ensure_ascii=False)
        sep = ","
    yield "]}"


def _csv_stream(rows: Iterable[ops.LedgerRow], tz: zoneinfo.ZoneInfo,
                dialect: str) -> Iterator[str]:
    buf = io.StringIO()
    excel = dialect == "excel-sv"
    if excel:
        buf.write("\ufeff")  # the byte-order mark: Excel reads the file as UTF-8
    writer = csv.writer(buf, delimiter=";" if excel else ",")
    writer.writerow(COLUMNS)
    when = _local(tz, excel)
    yes, no = ("ja", "nej") if excel else ("yes", "no")
    for i, row in enumerate(rows, 1):
        rec = _record(row, when)
        rec["corrected"] = yes if row.corrected else no
        rec["auto_checkout"] = yes if row.auto_checkout else no
        writer.writerow([cell(rec[c]) for c in COLUMNS])
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
           site_id: uuid.UUID):
    """The personnel ledger: one row per shift that began in `from`..`to`, oldest first,
    times in the site's time zone (whole seconds), with the identity numbers in clear (every
    person's is audited as read), the employer of the day, and for a corrected shift its
    original times."""
    membership = require_customer(customer_id, ADMIN)
    s = db_session()
    site = s.scalar(select(Site).where(Site.id == site_id, Site.customer_id == customer_id))
    if site is None:
        raise NotFound("No such site.")
    tz = zoneinfo.ZoneInfo(site.timezone)
    start, end = period(args["from_"], args["to"], tz)
    ops.record_ledger_read(s, site, start, end, by=membership)
    rows = ops.ledger_rows(s, site, start, end)
    headers = {"Cache-Control": "no-store"}
    if args["format"] == "csv":
        dialect = args["dialect"] or (
            "excel-sv" if request.accept_languages.best_match(LANGUAGES) == "sv"
            else "rfc4180")
        headers["Content-Disposition"] = f'attachment; filename="{file_name(site, start, end)}"'
        return Response(streamed(_csv_stream(rows, tz, dialect)),
                        mimetype="text/csv", headers=headers)
    when = _local(tz)
    head = {"site_id": str(site.id), "ledger_id": site.ledger_id, "site_name": site.name,
            "site_address": site.address, "customer_id": str(customer_id),
            "timezone": site.timezone, "from": when(start), "to": when(end)}
    return Response(streamed(_json_stream(head, rows, when)),
                    mimetype="application/json", headers=headers)


def period(start: dt.date | dt.datetime, end: dt.date | dt.datetime,
           tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """``from``..``to`` as UTC times: a date ``from`` is the start of that day in the site's
    time zone, a date ``to`` the start of the next day (the day is included)."""
    def at(value: dt.date | dt.datetime, next_day: bool) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.UTC)
        day = value + dt.timedelta(days=1) if next_day else value
        return dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    start_at, end_at = at(start, False), at(end, True)
    if end_at <= start_at:
        raise ValidationFailed({"to": ["'to' must be after 'from'."]})
    return start_at, end_at


def file_name(site: Site, start: dt.datetime, end: dt.datetime) -> str:
    """``personalliggare-<ledger id>-<first day>-<last day>.csv`` in the site's time zone
    (the site's id when it has no ledger id)."""
    tz = zoneinfo.ZoneInfo(site.timezone)
    first = start.astimezone(tz).date()
    last_moment = end.astimezone(tz) - dt.timedelta(microseconds=1)
    ident = "".join(c for c in (site.ledger_id or str(site.id)) if c.isalnum() or c in "-_")
    return f"personalliggare-{ident}-{first:%Y%m%d}-{last_moment.date():%Y%m%d}.csv"
