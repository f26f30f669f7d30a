"""Data-subject requests to decide, and support tickets with their grants (customer side)."""

from __future__ import annotations

import uuid

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from api.access import ADMIN
from api.base import keyset_page
from entryfy import web
from entryfy.auth import current_account
from entryfy.console import bp
from entryfy.console.admin_pages import _form_error, _next_url, _page_args
from entryfy.console.tenancy import enter
from entryfy.errors import EntryfyError, NotFound, ValidationFailed
from entryfy.ops import names as name_ops
from entryfy.ops import support as support_ops
from entryfy.web import database, db_session
from models import DataRequest, DataRequestPart, Ticket
from models.tenancy import TenantContext
from models.vocab import GRANT_SCOPES
from privacy import erasure_flow


@bp.route("/c/<uuid:customer_id>/requests")
def requests_page(customer_id: uuid.UUID):
    enter(customer_id, ADMIN)
    s = db_session()
    status = request.args.get("status", "pending")
    stmt = select(DataRequestPart).where(DataRequestPart.customer_id == customer_id)
    if status in ("pending", "completed", "denied"):
        stmt = stmt.where(DataRequestPart.status == status)
    limit, cursor = _page_args()
    page = keyset_page(s, stmt, [DataRequestPart.created_at, DataRequestPart.id],
                       limit=limit, cursor=cursor)
    parts = page["items"]
    types = dict(s.execute(select(DataRequest.id, DataRequest.type).where(
        DataRequest.id.in_([p.request_id for p in parts]))).all()) if parts else {}
    return render_template("console/requests.html", parts=parts, types=types, status=status,
                           people=name_ops.person_names(s, (p.account_id for p in parts)),
                           next_url=_next_url(page["next_cursor"]))


@bp.route("/c/<uuid:customer_id>/requests/<uuid:request_id>/decision", methods=["POST"])
def decide_request(customer_id: uuid.UUID, request_id: uuid.UUID):
    me = enter(customer_id, ADMIN)
    s = db_session()
    part = s.scalar(select(DataRequestPart).where(DataRequestPart.customer_id == customer_id,
                                                  DataRequestPart.request_id == request_id))
    if part is None:
        raise NotFound("No such request.")
    decision = request.form.get("decision", "")
    part_id = part.id
    # The same path as the API's: the decision commits, then an approved erasure runs.
    web.settle()
    erasure_flow.decide_part(database(), TenantContext(customer_ids=frozenset({customer_id})),
                             part_id, decision=decision,
                             reason=request.form.get("reason") or None, actor_id=me.account_id)
    return redirect(url_for("console.requests_page", customer_id=customer_id, decided=1))


# ------------------------------------------------------------------ tickets

@bp.route("/c/<uuid:customer_id>/tickets", methods=["GET", "POST"])
def tickets(customer_id: uuid.UUID):
    enter(customer_id, ADMIN)
    s = db_session()
    error = None
    if request.method == "POST":
        try:
            subject = request.form.get("subject", "").strip()
            body = request.form.get("body", "").strip()
            if not subject or not body:
                raise ValidationFailed({"subject": [_("Give a subject and a message.")]})
            t = support_ops.open_ticket(s, customer_id=customer_id, author=current_account(),
                                        subject=subject, body=body)
            return redirect(url_for("console.ticket", customer_id=customer_id, ticket_id=t.id))
        except EntryfyError as err:
            error = err
    rows = list(s.scalars(select(Ticket).where(Ticket.customer_id == customer_id)
                          .order_by(Ticket.updated_at.desc(), Ticket.id).limit(100)))
    if error is not None:
        return _form_error("console/tickets.html", error, tickets=rows)
    return render_template("console/tickets.html", tickets=rows, form={})


@bp.route("/c/<uuid:customer_id>/tickets/<uuid:ticket_id>", methods=["GET", "POST"])
def ticket(customer_id: uuid.UUID, ticket_id: uuid.UUID):
    enter(customer_id, ADMIN)
    s = db_session()
    t = support_ops.get_ticket(s, customer_id, ticket_id)
    if request.method == "POST":
        action = request.form.get("action")
        if action == "message":
            support_ops.customer_message(s, t, author=current_account(),
                                         body=request.form.get("body", ""))
        elif action == "grant":
            hours = request.form.get("expires_in_hours", "")
            support_ops.create_grant(s, t, by=current_account(),
                                     scopes=request.form.getlist("scopes"),
                                     expires_in_hours=int(hours) if hours.isdigit() else 0)
        elif action == "revoke":
            try:
                grant_id = uuid.UUID(request.form.get("grant_id", ""))
            except ValueError:
                raise NotFound("No such grant.") from None
            support_ops.revoke_grant(s, t, grant_id, by=current_account())
        elif action == "close":
            support_ops.close_ticket(s, t, by=current_account())
        return redirect(url_for("console.ticket", customer_id=customer_id, ticket_id=t.id))
    messages = support_ops.messages(s, t)
    return render_template("console/ticket.html", ticket=t, messages=messages,
                           grants=support_ops.grants(s, t), scopes=GRANT_SCOPES,
                           support_view=False)


