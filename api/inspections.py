"""The inspector's view: a site's personnel ledger for a period and who is on site now, by
the short code an admin issued (no sign-in). JSON, CSV or PDF; ``?employer_org_nr=`` narrows
it to one contractor. Missing, expired and revoked codes: 404 alike. Throttled per client
address; every use is audited in the customer's trail (entryfy.ops.inspections)."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

import marshmallow as ma
from flask import Response, current_app
from flask_limiter.util import get_remote_address

from api import printing
from api.base import Blueprint, OutSchema, QuerySchema
from entryfy.extensions import limiter
from entryfy.ops import inspections as ops
from entryfy.ops.customers import normalise_org_nr
from entryfy.ops.names import full_name
from entryfy.web import db_session, streamed

blp = Blueprint("inspections", __name__, url_prefix="/api/v1",
                description="Skatteverket's inspection (kontrollbesök): the ledger by code")


def _limit() -> str:
    return str(current_app.config.get("INSPECTION_LIMIT")
               or os.environ.get("INSPECTION_LIMIT", "30 per minute"))


class InspectionArgs(QuerySchema):
    format = ma.fields.String(load_default="json",
                              validate=ma.validate.OneOf(["json", "csv", "pdf"]))
    employer_org_nr = ma.fields.String(load_default=None,
                                       validate=ma.validate.Length(min=10, max=13))


LEDGER_COLUMNS = ("entry_id", "name", "identity_number", "employer_name", "employer_org_nr",
                  "checked_in_at", "checked_out_at", "registered_at", "source",
                  "auto_checkout", "corrected", "original_checked_in_at",
                  "original_checked_out_at")
PRESENT_COLUMNS = ("entry_id", "name", "identity_number", "employer_name", "employer_org_nr",
                   "checked_in_at")


class _LedgerItem(OutSchema):
    entry_id = ma.fields.String()
    name = ma.fields.String(allow_none=True)
    identity_number = ma.fields.String(allow_none=True)
    employer_name = ma.fields.String(allow_none=True)
    employer_org_nr = ma.fields.String(allow_none=True)
    checked_in_at = ma.fields.String()
    checked_out_at = ma.fields.String(allow_none=True)
    registered_at = ma.fields.String(allow_none=True)
    source = ma.fields.String(allow_none=True)
    auto_checkout = ma.fields.Boolean()
    corrected = ma.fields.Boolean()
    original_checked_in_at = ma.fields.String(allow_none=True)
    original_checked_out_at = ma.fields.String(allow_none=True)


class _PresentItem(OutSchema):
    entry_id = ma.fields.String()
    name = ma.fields.String(allow_none=True)
    identity_number = ma.fields.String(allow_none=True)
    employer_name = ma.fields.String(allow_none=True)
    employer_org_nr = ma.fields.String(allow_none=True)
    checked_in_at = ma.fields.String()


InspectionLedgerOut = OutSchema.from_dict({
    "site_id": ma.fields.String(), "site_name": ma.fields.String(),
    "site_address": ma.fields.String(allow_none=True),
    "ledger_id": ma.fields.String(allow_none=True, metadata={"description": "The site's "
                                  "personnel-ledger id (byggarbetsplats-ID)."}),
    "builder": ma.fields.Dict(metadata={"description": "{name, org_nr} of the customer "
                              "keeping the ledger (byggherre or the one it passed it to)."}),
    "contractors": ma.fields.List(ma.fields.Dict(), metadata={"description": "Each employer "
                                  "in the ledger or on site: {org_nr, name}."}),
    "from": ma.fields.String(), "to": ma.fields.String(), "viewed_at": ma.fields.String(),
    "expires_at": ma.fields.String(), "employer_org_nr": ma.fields.String(allow_none=True),
    "ledger": ma.fields.List(ma.fields.Nested(_LedgerItem)),
    "on_site": ma.fields.Dict(metadata={"description": "{count, items}: who is checked in "
                              "at the time of viewing."}),
}, name="InspectionLedgerOut")


def _iso(t: Any) -> str | None:
    return t.isoformat() if t is not None else None


def _ledger_item(r: Any) -> dict[str, Any]:
    return {
        "entry_id": str(r.entry_id), "name": full_name(r.first_name, r.last_name),
        "identity_number": r.identity_number, "employer_name": r.employer_name,
        "employer_org_nr": r.employer_org_nr, "checked_in_at": _iso(r.checked_in_at),
        "checked_out_at": _iso(r.checked_out_at), "registered_at": _iso(r.registered_at),
        "source": r.source, "auto_checkout": r.auto_checkout, "corrected": r.corrected,
        "original_checked_in_at": _iso(r.original_checked_in_at),
        "original_checked_out_at": _iso(r.original_checked_out_at),
    }


def _present_item(p: Any) -> dict[str, Any]:
    return {"entry_id": str(p.entry_id), "name": p.person_name,
            "identity_number": p.identity_number, "employer_name": p.employer_name,
            "employer_org_nr": p.employer_org_nr, "checked_in_at": _iso(p.checked_in_at)}


@blp.route("/inspections/<string:code>/ledger", methods=["GET"])
@limiter.limit(_limit, key_func=get_remote_address, scope="inspection")
@blp.arguments(InspectionArgs, location="query", unknown=ma.RAISE)
@blp.response(200, InspectionLedgerOut, description="JSON; format=csv: the on-site list "
              "then the ledger, in one CSV with a 'section' column; format=pdf: printable. "
              "JSON and CSV are streamed.")
@blp.alt_response(200, schema=ma.Schema.from_dict({}, name="InspectionCsv"),
                  content_type="text/csv", description="format=csv")
@blp.alt_response(200, schema=ma.Schema.from_dict({}, name="InspectionPdf"),
                  content_type="application/pdf", description="format=pdf")
def inspection_ledger(args: dict[str, Any], code: str):
    """The site's ledger for the inspection's period and who is on site now, with the site's
    ledger id and the builder's and every contractor's org nr. No sign-in: the code is the
    access. Expired or revoked: 404. Every use is audited in the customer's trail."""
    org_nr = args["employer_org_nr"]
    if org_nr is not None:
        org_nr = normalise_org_nr(org_nr, field="employer_org_nr", legal_entity=False)
    v = ops.open_inspection(db_session(), code[:40], employer_org_nr=org_nr)
    site, zone = v.site, v.site.timezone
    present = [_present_item(p) for p in v.present]
    headers = {"Cache-Control": "no-store"}
    builder = {"name": v.customer.name, "org_nr": v.customer.org_nr}
    # JSON and CSV stream the ledger from a cursor after the commit (the audit records are in
    # before the first byte), in flat memory however long the period.
    if args["format"] == "csv":
        headers["Content-Disposition"] = f'attachment; filename="inspection-{site.id}.csv"'
        head = ("section", "ledger_id", "builder_org_nr", *LEDGER_COLUMNS)
        lead = (site.ledger_id, v.customer.org_nr)
        rows = itertools.chain(
            (("on_site", *lead, *[p.get(c) for c in LEDGER_COLUMNS]) for p in present),
            (("ledger", *lead, *[item[c] for c in LEDGER_COLUMNS])
             for item in map(_ledger_item, v.ledger)))
        return Response(streamed(printing.csv_stream(head, rows)),
                        mimetype="text/csv", headers=headers)
    if args["format"] == "pdf":
        # A document for paper: made whole (fpdf2 writes no stream).
        ledger = list(v.ledger)
        headers["Content-Disposition"] = f'inline; filename="inspection-{site.id}.pdf"'
        stamp = (f"Viewed {printing.local(v.viewed_at, zone)} ({zone}); period "
                 f"{printing.local(v.inspection.period_from, zone)} - "
                 f"{printing.local(v.inspection.period_to, zone)}")
        contractors = ", ".join(f"{c['name'] or '-'} {c['org_nr'] or '-'}"
                                for c in v.contractors)
        lines = [f"Site: {site.name}, {site.address or '-'}",
                 f"Personnel ledger id: {site.ledger_id or '-'}",
                 f"Builder: {v.customer.name}, org nr {v.customer.org_nr}",
                 f"Contractors: {contractors or '-'}"]
        if org_nr:
            lines.append(f"Only employer org nr {org_nr}")
        widths = (60, 32, 55, 28, 32, 32, 18)
        cols = ("Name", "Identity number", "Employer", "Org nr", "In", "Out", "Note")

        def note(raw: Any) -> str:
            marks = []
            if raw.corrected:
                marks.append("corr.")
            if raw.auto_checkout:
                marks.append("auto")
            if raw.source and raw.source != "app":
                marks.append(raw.source)
            return " ".join(marks)

        body = printing.pdf_table(
            f"Personnel ledger: {site.name}", stamp, lines,
            [(f"On site now ({len(present)})", cols, widths,
              ((p.person_name, p.identity_number, p.employer_name, p.employer_org_nr,
                printing.local(p.checked_in_at, zone), "", "") for p in v.present)),
             (f"Ledger ({len(ledger)})", cols, widths,
              ((full_name(r.first_name, r.last_name), r.identity_number, r.employer_name,
                r.employer_org_nr, printing.local(r.checked_in_at, zone),
                printing.local(r.checked_out_at, zone), note(r)) for r in ledger))],
        )
        return Response(body, mimetype="application/pdf", headers=headers)
    document = {
        "site_id": str(site.id), "site_name": site.name, "site_address": site.address,
        "ledger_id": site.ledger_id, "builder": builder, "contractors": v.contractors,
        "from": _iso(v.inspection.period_from), "to": _iso(v.inspection.period_to),
        "viewed_at": _iso(v.viewed_at), "expires_at": _iso(v.inspection.expires_at),
        "employer_org_nr": org_nr, "on_site": {"count": len(present), "items": present},
    }
    return Response(streamed(_json_stream(document, v.ledger)),
                    mimetype="application/json", headers=headers)


def _json_stream(head: dict[str, Any], rows: Iterable[Any]) -> Iterator[str]:
    """``head`` with the ledger's items after it, one piece per row."""
    yield json.dumps(head, ensure_ascii=False)[:-1] + ', "ledger": ['
    sep = ""
    for row in rows:
        yield sep + json.dumps(_ledger_item(row), ensure_ascii=False)
        sep = ","
    yield "]}"
