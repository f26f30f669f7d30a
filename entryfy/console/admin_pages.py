"""The customer admin's and operator's pages. Each view: enter the customer (the API's
``require_customer``), read or call an operation, render. Form input is loaded with the API's
own input schemas, so a field is checked by the same rule in both faces."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Any
from urllib.parse import urlencode

import marshmallow as ma
from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from api.access import ADMIN, ADMIN_OR_OPERATOR
from api.base import keyset_page
from entryfy import clock
from entryfy.console import bp, parse_local, when
from entryfy.console.tenancy import enter
from entryfy.errors import EntryfyError, ValidationFailed
from entryfy.ops import customers as customer_ops
from entryfy.ops import dashboard as dash_ops
from entryfy.ops import doors as door_ops
from entryfy.ops import entries as entry_ops
from entryfy.ops import names as name_ops
from entryfy.ops import sites as site_ops
from entryfy.ops.auditing import record_read
from entryfy.web import db_session
from models import AccessEvent, Account, AuditEvent, Door, Entry, Membership, Site
from models.vocab import OUTCOMES
from privacy import audit

PAGE = 50


def form_data(schema: type[ma.Schema], keys: tuple[str, ...], *,
              ints: tuple[str, ...] = ()) -> dict[str, Any]:
    """The form's fields ``keys`` (empty ones left out) loaded by an API input schema.
    ``ints``: fields the schema takes as strict integers (a form sends text)."""
    raw: dict[str, Any] = {}
    for k in keys:
        v = request.form.get(k, "").strip()
        if v:
            raw[k] = int(v) if k in ints and v.lstrip("-").isdigit() else v
    try:
        return schema().load(raw)
    except ma.ValidationError as err:
        # A schema's messages are a dict by field (normalized_messages says so to the checker).
        raise ValidationFailed(err.normalized_messages()) from None


def _page_args() -> tuple[int, str | None]:
    return PAGE, request.args.get("cursor") or None


def _next_url(cursor: str | None) -> str | None:
    if not cursor:
        return None
    args = {k: v for k, v in request.args.items() if k != "cursor"}
    return f"{request.path}?{urlencode({**args, 'cursor': cursor})}"


def _form_error(template: str, err: EntryfyError, **ctx: Any):
    errors = err.extra.get("errors") or {}
    return render_template(template, error=err.detail, field_errors=errors,
                           form=request.form, **ctx), err.status


# ------------------------------------------------------------------ dashboard

@bp.route("/c/<uuid:customer_id>/")
def dashboard(customer_id: uuid.UUID):
    enter(customer_id, ADMIN_OR_OPERATOR)
    s = db_session()
    return render_template("console/dashboard.html", sites=dash_ops.on_site_now(s, customer_id),
                           waiting=dash_ops.waiting(s, customer_id),
                           alerts=dash_ops.alerts(s, customer_id))


@bp.route("/c/<uuid:customer_id>/on-site")
def on_site(customer_id: uuid.UUID):
    """The dashboard's live part, refreshed by htmx every few seconds."""
    enter(customer_id, ADMIN_OR_OPERATOR)
    return render_template("console/_on_site.html",
                           sites=dash_ops.on_site_now(db_session(), customer_id))


# ------------------------------------------------------------------ members

def invite_member(customer_id: uuid.UUID, actor_id: uuid.UUID | None, data: dict[str, Any]
                  ) -> Membership:
    """The one place the console adds a member: whatever the member-add operation does
    (today a membership or pending invitation; with #12a an invitation accepted by the
    person) the console follows."""
    return customer_ops.add_member(db_session(), customer_id, actor_id=actor_id, **data)


@bp.route("/c/<uuid:customer_id>/members", methods=["GET", "POST"])
def members(customer_id: uuid.UUID):
    from api.customers import MemberIn

    me = enter(customer_id, ADMIN)
    s = db_session()
    error = None
    if request.method == "POST":
        try:
            data = form_data(MemberIn, ("email", "role", "employer_name", "employer_org_nr"))
            invite_member(customer_id, me.account_id, data)
            return redirect(url_for("console.members", customer_id=customer_id, invited=1))
        except EntryfyError as err:
            error = err
    limit, cursor = _page_args()
    stmt = (select(Membership).where(Membership.customer_id == customer_id,
                                     Membership.role != "guest")
            .options(selectinload(Membership.account)))
    q = request.args.get("q", "").strip()[:100]
    if q:
        stmt = _matching(stmt, q)
    page = keyset_page(s, stmt, [Membership.created_at, Membership.id], limit=limit,
                       cursor=cursor, descending=False)
    if page["items"]:
        record_read(s, me, "members.read", customer_id=customer_id, object_type="members")
    ctx = {"members": page["items"], "next_url": _next_url(page["next_cursor"]),
           "roles": customer_ops.ASSIGNABLE_ROLES, "invited": request.args.get("invited"),
           "q": q}
    if error is not None:
        return _form_error("console/members.html", error, **ctx)
    return render_template("console/members.html", form={}, **ctx)


def _matching(stmt: Any, q: str) -> Any:
    """Members whose name, e-mail or invited address contains ``q`` (any case): how an admin
    finds one person among thousands. (SQLite's lower() folds ASCII letters only: there "Ö"
    matches "Ö", not "ö"; PostgreSQL folds every letter.)"""
    pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    name = func.lower(func.coalesce(Account.first_name, "") + " "
                      + func.coalesce(Account.last_name, ""))
    return (stmt.outerjoin(Account, Account.id == Membership.account_id)
            .where(or_(name.like(pattern, escape="\\"),
                       func.lower(Account.email).like(pattern, escape="\\"),
                       func.lower(Membership.invited_email).like(pattern, escape="\\"))))


@bp.route("/c/<uuid:customer_id>/members/<uuid:member_id>", methods=["POST"])
def member_update(customer_id: uuid.UUID, member_id: uuid.UUID):
    from api.customers import MemberPatch

    me = enter(customer_id, ADMIN)
    s = db_session()
    m = customer_ops.get_member(s, customer_id, member_id)
    data = form_data(MemberPatch, ("role", "employer_name", "employer_org_nr"))
    data["active"] = request.form.get("active") == "1"
    for key in ("employer_name", "employer_org_nr"):
        data.setdefault(key, None)
    customer_ops.update_member(s, m, data, actor_id=me.account_id)
    return redirect(url_for("console.members", customer_id=customer_id))


# ------------------------------------------------------------------ sites and doors

SITE_KEYS = ("name", "address", "latitude", "longitude", "radius_m", "geofence", "ledger_id",
             "timezone")


@bp.route("/c/<uuid:customer_id>/sites", methods=["GET", "POST"])
def sites(customer_id: uuid.UUID):
    from api.sites import SiteIn

    enter(customer_id, ADMIN)
    s = db_session()
    error = None
    if request.method == "POST":
        try:
            data = form_data(SiteIn, SITE_KEYS, ints=("radius_m",))
            site = site_ops.create_site(s, customer_id, data)
            return redirect(url_for("console.doors", customer_id=customer_id, site_id=site.id))
        except EntryfyError as err:
            error = err
    rows = list(s.scalars(select(Site).where(Site.customer_id == customer_id)
                          .order_by(Site.name, Site.id)))
    if error is not None:
        return _form_error("console/sites.html", error, sites=rows)
    return render_template("console/sites.html", sites=rows, form={})


@bp.route("/c/<uuid:customer_id>/sites/<uuid:site_id>/doors", methods=["GET", "POST"])
def doors(customer_id: uuid.UUID, site_id: uuid.UUID):
    from api.doors import DoorIn

    enter(customer_id, ADMIN)
    s = db_session()
    site = site_ops.get_site(s, customer_id, site_id)
    error = None
    if request.method == "POST":
        try:
            data = form_data(DoorIn, ("name", "latitude", "longitude", "radius_m"),
                             ints=("radius_m",))
            data["site_entrance"] = request.form.get("site_entrance") == "1"
            door = door_ops.create_door(s, site=site, **data)
            return redirect(url_for("console.door_sign", customer_id=customer_id,
                                    door_id=door.id))
        except EntryfyError as err:
            error = err
    rows = list(s.scalars(select(Door).where(Door.customer_id == customer_id,
                                             Door.site_id == site.id)
                          .order_by(Door.name, Door.id)))
    if error is not None:
        return _form_error("console/doors.html", error, site=site, doors=rows)
    return render_template("console/doors.html", site=site, doors=rows, form={})


@bp.route("/c/<uuid:customer_id>/doors/<uuid:door_id>/sign")
def door_sign(customer_id: uuid.UUID, door_id: uuid.UUID):
    enter(customer_id, ("admin", "hardware_manager"))
    s = db_session()
    door = door_ops.load_door(s, customer_id, door_id)
    site = site_ops.get_site(s, customer_id, door.site_id)
    return render_template("console/door_sign.html", door=door, site=site)


# Accesses: entryfy/console/access_pages.py.


# ------------------------------------------------------------------ guests

@bp.route("/c/<uuid:customer_id>/guests", methods=["GET", "POST"])
def guests(customer_id: uuid.UUID):
    me = enter(customer_id, ADMIN_OR_OPERATOR)
    s = db_session()
    door_rows = list(s.execute(select(Door, Site.name, Site.timezone)
                               .join(Site, Site.id == Door.site_id)
                               .where(Door.customer_id == customer_id)
                               .order_by(Site.name, Door.name)))
    tz = door_rows[0][2] if door_rows else None
    if request.method == "POST":
        try:
            door_ids = [uuid.UUID(v) for v in request.form.getlist("door_ids")]
            email = request.form.get("email", "").strip()
            if not email:
                raise ValidationFailed({"email": [_("Required.")]})
            start = parse_local(request.form.get("valid_from"), tz)
            end = parse_local(request.form.get("valid_to"), tz)
            if start is None or end is None:
                raise ValidationFailed({"valid_from": [_("Give the visit's start and end.")]})
            door_ops.invite_guest(s, customer_id=customer_id, email=email,
                                  first_name=request.form.get("first_name") or None,
                                  valid_from=start, valid_to=end, door_ids=door_ids,
                                  invited_by=me.account_id, by=me)
            return redirect(url_for("console.guests", customer_id=customer_id, sent=1))
        except ValueError:
            err: EntryfyError = ValidationFailed({"door_ids": [_("Choose doors.")]})
            return _form_error("console/guests.html", err, doors=door_rows)
        except EntryfyError as err:
            return _form_error("console/guests.html", err, doors=door_rows)
    return render_template("console/guests.html", doors=door_rows, form={},
                           sent=request.args.get("sent"), guests=_guests(me, tz))


def _guests(me: Membership, tz: str | None) -> list[tuple[str, str, str]]:
    """Guests whose visit has not ended yet, soonest first (a bounded list: guests are
    short-term): address, from, to in the site's time zone. A read of people's addresses,
    audited as the members list is."""
    s = db_session()
    rows = list(s.scalars(select(Membership)
                          .where(Membership.customer_id == me.customer_id,
                                 Membership.role == "guest", Membership.active.is_(True),
                                 Membership.valid_to > clock.now())
                          .options(selectinload(Membership.account))
                          .order_by(Membership.valid_from, Membership.id).limit(100)))
    if rows:
        record_read(s, me, "members.read", customer_id=me.customer_id, object_type="guests")
    return [(m.account.email if m.account else (m.invited_email or ""),
             when(m.valid_from, tz), when(m.valid_to, tz)) for m in rows]


# ------------------------------------------------------------------ entries and ledger

def _date_arg(name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(request.args[name]) if request.args.get(name) else None
    except ValueError:
        raise ValidationFailed({name: [_("A date, YYYY-MM-DD.")]}) from None


@bp.route("/c/<uuid:customer_id>/entries")
def entries(customer_id: uuid.UUID):
    from api.ledger import period

    me = enter(customer_id, ADMIN)
    s = db_session()
    site_rows = list(s.scalars(select(Site).where(Site.customer_id == customer_id)
                               .order_by(Site.name)))
    by_id = {x.id: x for x in site_rows}
    try:
        site_id = uuid.UUID(request.args["site_id"]) if request.args.get("site_id") else None
    except ValueError:
        site_id = None
    site = by_id.get(site_id) if site_id else None
    tz = site.timezone if site else (site_rows[0].timezone if site_rows else "Europe/Stockholm")
    first, last = _date_arg("from"), _date_arg("to")
    start = end = None
    if first or last:
        start, end = period(first or dt.date(2000, 1, 1), last or dt.date(2100, 1, 1),
                            zoneinfo.ZoneInfo(tz))
    stmt = entry_ops.customer_entries(customer_id, site_id=site.id if site else None,
                                      start=start, end=end,
                                      open_only=request.args.get("open_only") == "1")
    limit, cursor = _page_args()
    page = keyset_page(s, stmt, [Entry.checked_in_at, Entry.id], limit=limit, cursor=cursor)
    items = page["items"]
    if items:
        record_read(s, me, "entries.read", customer_id=customer_id, object_type="entries",
                    object_id=site.id if site else None)
    people = name_ops.person_names(s, (e.account_id for e in items))
    corrected = entry_ops.corrected_ids(s, [e.id for e in items])
    return render_template("console/entries.html", entries=items, people=people,
                           sites=site_rows, site_by_id=by_id, corrected=corrected,
                           next_url=_next_url(page["next_cursor"]), args=request.args)


@bp.route("/c/<uuid:customer_id>/entries/<uuid:entry_id>", methods=["GET", "POST"])
def entry(customer_id: uuid.UUID, entry_id: uuid.UUID):
    me = enter(customer_id, ADMIN)
    s = db_session()
    row = entry_ops.load_for_correction(s, customer_id, entry_id)
    site = site_ops.get_site(s, customer_id, row.site_id)
    error = None
    if request.method == "POST":
        try:
            changes = {}
            for key in ("checked_in_at", "checked_out_at"):
                value = parse_local(request.form.get(key), site.timezone)
                if value is not None:
                    changes[key] = value
            reason = request.form.get("reason", "").strip()
            if not reason:
                raise ValidationFailed({"reason": [_("Give a reason.")]})
            entry_ops.correct(s, entry=row, actor_id=me.account_id, changes=changes,
                              reason=reason)  # the operation audits the correction
            return redirect(url_for("console.entry", customer_id=customer_id,
                                    entry_id=row.id, saved=1))
        except EntryfyError as err:
            error = err
    record_read(s, me, "entries.read", customer_id=customer_id, object_type="entry",
                object_id=row.id, subject_id=row.account_id)
    ctx = {"entry": row, "site": site, "corrections": entry_ops.corrections_of(s, row),
           "person": name_ops.person_name(s, row.account_id),
           "saved": request.args.get("saved")}
    if error is not None:
        return _form_error("console/entry.html", error, **ctx)
    return render_template("console/entry.html", form={}, **ctx)


@bp.route("/c/<uuid:customer_id>/ledger")
def ledger(customer_id: uuid.UUID):
    """The export form; the file itself comes from the API (the same rules and audit)."""
    enter(customer_id, ADMIN)
    s = db_session()
    site_rows = list(s.scalars(select(Site).where(Site.customer_id == customer_id)
                               .order_by(Site.name)))
    # This month so far, by the site's calendar (the app's clock, not the server's zone).
    zone = zoneinfo.ZoneInfo(site_rows[0].timezone if site_rows else "Europe/Stockholm")
    today = clock.now().astimezone(zone).date()
    return render_template("console/ledger.html", sites=site_rows,
                           first=today.replace(day=1).isoformat(), last=today.isoformat())


# ------------------------------------------------------------------ events and audit

@bp.route("/c/<uuid:customer_id>/events")
def events(customer_id: uuid.UUID):
    me = enter(customer_id, ADMIN_OR_OPERATOR)
    s = db_session()
    stmt = select(AccessEvent).where(AccessEvent.customer_id == customer_id)
    outcome = request.args.get("outcome")
    if outcome in OUTCOMES:
        stmt = stmt.where(AccessEvent.outcome == outcome)
    limit, cursor = _page_args()
    page = keyset_page(s, stmt, [AccessEvent.occurred_at, AccessEvent.id], limit=limit,
                       cursor=cursor)
    record_read(s, me, "access_events.read", customer_id=customer_id,
                object_type="access_events")
    items = page["items"]
    return render_template("console/events.html", events=items,
                           people=name_ops.person_names(s, (e.account_id for e in items)),
                           doors=name_ops.door_names(s, (e.door_id for e in items)),
                           next_url=_next_url(page["next_cursor"]), outcome=outcome)


@bp.route("/c/<uuid:customer_id>/audit")
def audit_trail(customer_id: uuid.UUID):
    enter(customer_id, ADMIN)
    s = db_session()
    stmt = select(AuditEvent).where(AuditEvent.chain == audit.chain_name(customer_id))
    limit, cursor = _page_args()
    page = keyset_page(s, stmt, [AuditEvent.seq], limit=limit, cursor=cursor)
    items = page["items"]
    people = name_ops.person_names(
        s, [e.actor_id for e in items] + [e.subject_id for e in items])
    return render_template("console/audit.html", events=items, people=people,
                           next_url=_next_url(page["next_cursor"]))
