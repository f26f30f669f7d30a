"""The signed-in person's own account: read, rectify, change password."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select

from api.base import Blueprint, InSchema, OutSchema
from entryfy.auth import current_account, current_token_id
from entryfy.ops import accounts as ops
from entryfy.ops import identity
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
    email = ma.fields.Email(validate=ma.validate.Length(max=254))
    first_name = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    last_name = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
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
    def get(self):  # type: ignore[no-untyped-def]
        """The signed-in person.

        Name, contact details, the masked identity number and every membership with its
        customer and role.
        """
        return account_payload(current_account())

    @blp.arguments(AccountPatch)
    @blp.response(200, AccountOut)
    @blp.problems("email-taken")
    def patch(self, data):  # type: ignore[no-untyped-def]
        """Rectify one's own data (GDPR Art. 16).

        Name, phone, e-mail and the identity number (a site that keeps a personnel ledger needs
        it for check-in). Only the fields sent change.
        """
        account = current_account()
        changes = dict(data)
        if "identity_number" in changes:
            identity.set_identity_number(db_session(), account, changes.pop("identity_number"))
        if changes:
            ops.update_profile(db_session(), account, changes)
        return account_payload(account)


@blp.route("/password", methods=["POST"])
@blp.arguments(PasswordChange)
@blp.response(204)
def change_password(data):  # type: ignore[no-untyped-def]
    """Change the password.

    Needs the current password; every other session and token of the person ends.
    """
    account = current_account()
    ops.change_password(db_session(), account, current=data["current_password"],
                        new=data["new_password"], keep_token_id=current_token_id())
    return ""
