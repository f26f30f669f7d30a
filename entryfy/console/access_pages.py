"""Accesses in the console: the list, giving one, changing one (doors, members, methods,
validity, the weekly schedule) and removing one after a confirm step.

The rules and the audit records are the operations' (``entryfy.ops.doors.create_access``,
``update_access``, ``delete_access``), as for ``PATCH``/``DELETE /accesses/<id>`` in the API;
the views only turn the form into the operation's arguments and back."""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from api.access import ADMIN
from api.base import keyset_page
from entryfy.console import bp, local_input, method_labels, parse_local
from entryfy.console.admin_pages import _next_url, _page_args
from entryfy.console.tenancy import enter
from entryfy.errors import EntryfyError, NotFound, ValidationFailed
from entryfy.ops import doors as door_ops
from entryfy.ops import names as name_ops
from entryfy.web import db_session
from models import Access, Door, Membership, Site
from models.vocab import METHODS

WINDOWS = 3  # rows of the weekly editor; an access rarely needs more than three windows
PICKER_LIMIT = 500  # members offered in the picker (an access's own are always added)


def _schedule_from_form() -> list[dict[str, Any]] | None:
    """The weekly editor's rows (days ticked, start, end) as the access's schedule; no row
    filled in: at any time."""
    windows = []
    for i in range(WINDOWS):
        days = [d for d in door_ops.DAYS if request.form.get(f"w{i}_{d}") == "1"]
        start = request.form.get(f"w{i}_start", "").strip()
        end = request.form.get(f"w{i}_end", "").strip()
        if days or start or end:
            windows.append({"days": days, "start": start, "end": end})
    return door_ops.validate_schedule(windows) if windows else None


def _ids(name: str) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(v) for v in request.form.getlist(name)]
    except ValueError:
        raise ValidationFailed({name: [_("Choose doors and members from the lists.")]}) from None


def _site_zone(door_rows: list[Any], door_ids: list[uuid.UUID]) -> str | None:
    """The time zone the validity window is typed in: the chosen doors' site's."""
    zones = {d.id: tz for d, _name, tz in door_rows}
    return next((zones[i] for i in door_ids if i in zones), None)


def _access_from_form(door_rows: list[Any]) -> dict[str, Any]:
    """The form as ``create_access``/``update_access`` arguments (every field: an empty one
    clears it — no validity bound, no schedule, no members)."""
    from api.doors import AccessPatch

    door_ids, member_ids = _ids("door_ids"), _ids("member_ids")
    tz = _site_zone(door_rows, door_ids)
    try:  # the name by the API's own rule (one line, 1-200 characters)
        name = AccessPatch().load({"name": request.form.get("name", "").strip()})["name"]
    except ma.ValidationError as err:
        # marshmallow types .messages as list | dict; a schema's load always gives a dict.
        raise ValidationFailed(err.messages) from None  # type: ignore[arg-type]
    return {"name": name, "door_ids": door_ids,
            "member_ids": member_ids, "methods": request.form.getlist("methods"),
            "valid_from": parse_local(request.form.get("valid_from"), tz),
            "valid_to": parse_local(request.form.get("valid_to"), tz),
            "schedule": _schedule_from_form()}


def _form_values(access: Access | None, tz: str | None) -> dict[str, Any]:
    """What the form shows: a refused form's own input, else the access (or a new one's
    defaults)."""
    if request.method == "POST":
        f = request.form
        windows = [{"days": [d for d in door_ops.DAYS if f.get(f"w{i}_{d}") == "1"],
                    "start": f.get(f"w{i}_start", ""), "end": f.get(f"w{i}_end", "")}
                   for i in range(WINDOWS)]
        return {"name": f.get("name", ""), "door_ids": set(f.getlist("door_ids")),
                "member_ids": set(f.getlist("member_ids")),
                "methods": set(f.getlist("methods")), "valid_from": f.get("valid_from", ""),
                "valid_to": f.get("valid_to", ""), "windows": windows}
    if access is None:
        return {"name": "", "door_ids": set(), "member_ids": set(), "methods": {"app"},
                "valid_from": "", "valid_to": "", "windows": []}
    return {"name": access.name, "door_ids": {str(d.door_id) for d in access.doors},
            "member_ids": {str(m.membership_id) for m in access.members},
            "methods": set(access.methods), "valid_from": local_input(access.valid_from, tz),
            "valid_to": local_input(access.valid_to, tz), "windows": list(access.schedule or [])}


def _choices(customer_id: uuid.UUID, access: Access | None = None) -> dict[str, Any]:
    """The doors (with their site) and the members the form offers."""
    s = db_session()
    door_rows = list(s.execute(select(Door, Site.name, Site.timezone)
                               .join(Site, Site.id == Door.site_id)
                               .where(Door.customer_id == customer_id)
                               .order_by(Site.name, Door.name)))
    # The picker shows the first members; a customer with thousands of people is bounded
    # here (never the whole table), and an access being changed keeps its own members on
    # offer, so saving it never drops one the picker did not list.
    member_rows = list(s.execute(
        select(Membership.id, Membership.invited_email, Membership.account_id)
        .where(Membership.customer_id == customer_id, Membership.role != "guest",
               Membership.active.is_(True))
        .order_by(Membership.created_at, Membership.id).limit(PICKER_LIMIT)))
    listed = {m.id for m in member_rows}
    own = [am.membership_id for am in access.members] if access is not None else []
    missing = [i for i in own if i not in listed]
    if missing:
        member_rows += list(s.execute(
            select(Membership.id, Membership.invited_email, Membership.account_id)
            .where(Membership.customer_id == customer_id, Membership.id.in_(missing))))
    people = name_ops.person_names(s, (m.account_id for m in member_rows))
    return {"doors": door_rows,
            "members": [(m.id, people.get(m.account_id) or m.invited_email or "")
                        for m in member_rows],
            "days": door_ops.DAYS, "methods": METHODS, "windows_n": WINDOWS,
            "method_label": method_labels()}


def _render(template: str, status: int, err: EntryfyError | None, **ctx: Any):
    errors = (err.extra.get("errors") or {}) if err is not None else {}
    return render_template(template, error=err.detail if err is not None else None,
                           field_errors=errors, **ctx), status


@bp.route("/c/<uuid:customer_id>/accesses", methods=["GET", "POST"])
def accesses(customer_id: uuid.UUID):
    me = enter(customer_id, ADMIN)
    s = db_session()
    choices = _choices(customer_id)
    error = None
    if request.method == "POST":
        try:
            door_ops.create_access(s, customer_id=customer_id,
                                   **_access_from_form(choices["doors"]), by=me)
            return redirect(url_for("console.accesses", customer_id=customer_id, saved=1))
        except EntryfyError as err:
            error = err
    limit, cursor = _page_args()
    page = keyset_page(s, select(Access).where(Access.customer_id == customer_id,
                                               Access.guest.is_(False))
                       .options(selectinload(Access.doors), selectinload(Access.members)),
                       [Access.created_at, Access.id], limit=limit, cursor=cursor,
                       descending=False)
    rows = page["items"]
    door_name = {d.id: f"{site_name}: {d.name}" for d, site_name, _tz in choices["doors"]}
    zone = {d.site_id: tz for d, _name, tz in choices["doors"]}
    return _render("console/accesses.html", error.status if error is not None else 200, error,
                   accesses=rows, door_name=door_name, zone=zone,
                   values=_form_values(None, None), saved=request.args.get("saved"),
                   removed=request.args.get("removed"),
                   next_url=_next_url(page["next_cursor"]), **choices)


@bp.route("/c/<uuid:customer_id>/accesses/<uuid:access_id>", methods=["GET", "POST"])
def access_edit(customer_id: uuid.UUID, access_id: uuid.UUID):
    me = enter(customer_id, ADMIN)
    s = db_session()
    access = door_ops.load_access(s, customer_id, access_id)
    if access.guest:  # a guest's access goes with the guest's invitation, not set here
        raise NotFound("No such access.")
    site = s.get(Site, access.site_id)
    tz = site.timezone if site is not None else None
    choices = _choices(customer_id, access)
    error = None
    if request.method == "POST":
        try:
            door_ops.update_access(s, access, _access_from_form(choices["doors"]), by=me)
            return redirect(url_for("console.access_edit", customer_id=customer_id,
                                    access_id=access.id, saved=1))
        except EntryfyError as err:
            error = err
    return _render("console/access.html", error.status if error is not None else 200, error,
                   access=access, site=site, values=_form_values(access, tz),
                   saved=request.args.get("saved"), **choices)


@bp.route("/c/<uuid:customer_id>/accesses/<uuid:access_id>/delete", methods=["GET", "POST"])
def access_delete(customer_id: uuid.UUID, access_id: uuid.UUID):
    """GET: the confirm step (what goes, and that past door events stay); POST: remove."""
    me = enter(customer_id, ADMIN)
    s = db_session()
    access = door_ops.load_access(s, customer_id, access_id)
    if access.guest:
        raise NotFound("No such access.")
    if request.method == "POST":
        door_ops.delete_access(s, access, by=me)  # the operation audits the removal
        return redirect(url_for("console.accesses", customer_id=customer_id, removed=1))
    return render_template("console/access_delete.html", access=access,
                           doors=name_ops.door_names(s, (d.door_id for d in access.doors)))

