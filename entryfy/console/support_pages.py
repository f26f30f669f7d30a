"""The support console (vendor staff with a second factor): their tickets, the answer form,
and, only while the customer's grant covers it, the granted views. Every read goes through
``entryfy.ops.support`` (``read_ticket``, ``open_grant_scope``), which audits it."""

from __future__ import annotations

import uuid

from flask import g, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from api.access import require_staff
from api.base import keyset_page
from entryfy.console import bp
from entryfy.console.admin_pages import _next_url, _page_args
from entryfy.errors import NotFound
from entryfy.ops import names as name_ops
from entryfy.ops import support as support_ops
from entryfy.web import db_session
from models import Customer, Entry, Membership, Site, Ticket
from models.tenancy import system_scope
from models.vocab import GRANT_SCOPES

SUPPORT_ROLES = ("support",)


@bp.route("/support/")
def support_tickets():
    require_staff(*SUPPORT_ROLES)
    g.console_role = "support"
    s = db_session()
    limit, cursor = _page_args()
    with system_scope(s, "support: list tickets"):
        page = keyset_page(s, support_ops.support_tickets_query(),
                           [Ticket.updated_at, Ticket.id],
                           limit=limit, cursor=cursor)
        customers = dict(s.execute(select(Customer.id, Customer.name).where(
            Customer.id.in_({t.customer_id for t in page["items"]}))).all())
    return render_template("console/support_tickets.html", tickets=page["items"],
                           customers=customers, next_url=_next_url(page["next_cursor"]))


@bp.route("/support/tickets/<uuid:ticket_id>", methods=["GET", "POST"])
def support_ticket(ticket_id: uuid.UUID):
    staff = require_staff(*SUPPORT_ROLES)
    g.console_role = "support"
    s = db_session()
    if request.method == "POST":
        support_ops.support_message(s, staff, ticket_id, request.form.get("body", ""))
        return redirect(url_for("console.support_ticket", ticket_id=ticket_id))
    t, messages, grants = support_ops.read_ticket(s, staff, ticket_id)
    from entryfy import clock

    now = clock.now()
    live = sorted({sc for gr in grants if gr.live(now) for sc in gr.scope_list})
    return render_template("console/ticket.html", ticket=t, messages=messages, grants=grants,
                           scopes=GRANT_SCOPES, live_scopes=live, support_view=True)


@bp.route("/support/tickets/<uuid:ticket_id>/<scope>")
def support_scope(ticket_id: uuid.UUID, scope: str):
    staff = require_staff(*SUPPORT_ROLES)
    g.console_role = "support"
    if scope not in GRANT_SCOPES:
        raise NotFound("No such scope.")
    s = db_session()
    t = support_ops.open_grant_scope(s, staff, ticket_id, scope)
    limit, cursor = _page_args()
    rows: list = []
    people: dict = {}
    if scope == "members":
        stmt = (select(Membership).where(Membership.customer_id == t.customer_id)
                .options(selectinload(Membership.account)))
        page = keyset_page(s, stmt, [Membership.created_at, Membership.id], limit=limit,
                           cursor=cursor)
    elif scope == "sites":
        page = keyset_page(s, select(Site).where(Site.customer_id == t.customer_id),
                           [Site.created_at, Site.id], limit=limit, cursor=cursor)
    else:
        page = keyset_page(s, select(Entry).where(Entry.customer_id == t.customer_id),
                           [Entry.checked_in_at, Entry.id], limit=limit, cursor=cursor)
        people = name_ops.person_names(s, (e.account_id for e in page["items"]))
    rows = page["items"]
    return render_template("console/support_scope.html", ticket=t, scope=scope, rows=rows,
                           people=people, next_url=_next_url(page["next_cursor"]))
