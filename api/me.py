"""The signed-in person's own account: read, rectify, change password."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select

from api.base import Blueprint, InSchema, OutSchema, SingleLine
from api.throttle import account_key, current_password_checks, failed, throttled
from entryfy.auth import current_account, current_token_id
from entryfy.ops import accounts as ops
from entryfy.ops import identity, invitations
from entryfy.web import db_session
from models import Account, Customer, Membership

blp = Blueprint("me", __name__, url_prefix="/api/v1/me", description="The signed-in person")


class MembershipBrief(OutSchema):
    customer_id = ma.fields.UUID()
    customer_name = ma.fields.String()
    role = ma.fields.String()
    active = ma.fields.Boolean()


class AccountOut(OutSchema):
    id = ma.fields.UUID()
    email = ma.fields.String()
    first_name = ma.fields.String()
    last_name = ma.fields.String()
    phone = ma.fields.String(allow_none=True)
    # Masked (YYYYMMDD-****): the number in clear appears only in a customer's ledger.
    identity_number = ma.fields.String(allow_none=True)
    memberships = ma.fields.List(ma.fields.Nested(MembershipBrief))


class AccountPatch(InSchema):
    # A new address takes effect when the code sent to it is entered (auth/verify-email).
    email = ma.fields.Email(validate=ma.validate.Length(max=254))
    current_password = ma.fields.String(load_only=True, validate=ma.validate.Length(max=256),
                                        metadata={"description": "Required with `email`."})
    first_name = ma.fields.String(validate=[ma.validate.Length(min=1, max=100), SingleLine()])
    last_name = ma.fields.String(validate=[ma.validate.Length(min=1, max=100), SingleLine()])
    phone = ma.fields.String(allow_none=True,
                             validate=ma.validate.Regexp(r"^\+?[0-9 ()-]{5,32}$"))
    # Personnummer or samordningsnummer (YYMMDD-NNNN or YYYYMMDD-NNNN); null removes it.
    identity_number = ma.fields.String(allow_none=True,
                                       validate=ma.validate.Length(min=1, max=20))


class PasswordChange(InSchema):
    current_password = ma.fields.String(required=True, validate=ma.validate.Length(max=256))
    new_password = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=256))


def account_payload(account: Account) -> dict[str, Any]:
    s = db_session()
    rows = s.execute(
        select(Membership, Customer.name)
        .join(Customer, Customer.id == Membership.customer_id)
        .where(Membership.account_id == account.id, Customer.status != "ended")
        .order_by(Customer.name)
    ).all()
    return {
        "id": account.id,
        "email": account.email,
        "first_name": account.first_name,
        "last_name": account.last_name,
        "phone": account.phone,
        "identity_number": identity.masked(account),
        "memberships": [
            {"customer_id": m.customer_id, "customer_name": name, "role": m.role,
             "active": m.active}
            for m, name in rows
        ],
    }


@blp.route("")
class Me(MethodView):
    @blp.response(200, AccountOut)
    def get(self):
        """The signed-in person.

        Name, contact details, the masked identity number and every membership with its
        customer and role.
        """
        return account_payload(current_account())

    @current_password_checks()
    @blp.arguments(AccountPatch)
    @blp.response(200, AccountOut)
    @blp.problems("email-taken")
    def patch(self, data):
        """Rectify your own data. A new `email` needs `current_password` in the same body; a
        code goes to the new address and the change takes effect when it is entered at
        `/auth/verify-email` (the old address is told). Until then `email` stays as it was."""
        account = current_account()
        changes = dict(data)
        password = changes.pop("current_password", None)
        if "email" in changes:
            ops.request_email_change(db_session(), account, email=changes.pop("email"),
                                     current_password=password)
        if "identity_number" in changes:
            identity.set_identity_number(db_session(), account, changes.pop("identity_number"))
        if changes:
            ops.update_profile(db_session(), account, changes)
        return account_payload(account)


@blp.route("/password", methods=["POST"])
@current_password_checks()
@blp.arguments(PasswordChange)
@blp.response(204)
def change_password(data):
    """Change the password.

    Needs the current password; every other session and token of the person ends.
    """
    account = current_account()
    ops.change_password(db_session(), account, current=data["current_password"],
                        new=data["new_password"], keep_token_id=current_token_id())
    return ""


class InvitationOut(OutSchema):
    id = ma.fields.UUID()
    customer_id = ma.fields.UUID()
    customer_name = ma.fields.String()
    role = ma.fields.String()
    invited_at = ma.fields.DateTime()


@blp.route("/invitations", methods=["GET"])
@blp.response(200, InvitationOut(many=True))
def list_invitations():
    """Open invitations to your (proven) e-mail address. None of them makes you a member
    until you accept it."""
    return invitations.pending_for(db_session(), current_account())


@blp.route("/invitations/<uuid:invitation_id>/accept", methods=["POST"])
@throttled("invitation", per_account="SECRET_FAILURE_LIMIT_ACCOUNT",
           per_client="SECRET_FAILURE_LIMIT_IP", account=account_key,
           when=failed("invitation-not-found"))
@blp.response(200, MembershipBrief)
def accept_invitation(invitation_id):
    """Accept an invitation: from now on you are a member of that customer. Anything but an
    open invitation to your address: 404; already a member there: 409."""
    s = db_session()
    account = current_account()
    m = invitations.accept(s, account, invitation_id)
    customer = s.get(Customer, m.customer_id)
    return {"customer_id": m.customer_id, "customer_name": customer.name if customer else None,
            "role": m.role, "active": m.active}
