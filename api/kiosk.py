"""The kiosk's own endpoint: a site device checks people in and out by identity number or
ID06 card. Authenticated by the kiosk's token (``Authorization: Bearer <token>``), not by a
person; throttled per kiosk. Rules in entryfy.ops.kiosks."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import marshmallow as ma
from flask import current_app, request
from flask_limiter.util import get_remote_address

from api.base import Blueprint, InSchema
from api.entries import PersonEntryOut
from entryfy.extensions import limiter
from entryfy.ops import kiosks as ops
from entryfy.web import db_session, keep_refusal
from models.vocab import DIRECTIONS

blp = Blueprint("kiosk", __name__, url_prefix="/api/v1",
                description="Site kiosks: check-in and check-out without the app")


def _token() -> str | None:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


def _kiosk_key() -> str:
    # Per kiosk (the hash of its token, never the token); without one, per client address.
    token = _token()
    if token:
        return "kiosk:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return "ip:" + get_remote_address()


def _kiosk_limit() -> str:
    return str(current_app.config.get("KIOSK_LIMIT")
               or os.environ.get("KIOSK_LIMIT", "60 per minute"))


class KioskEntryIn(InSchema):
    identity_number = ma.fields.String(
        validate=ma.validate.Length(min=10, max=20),
        metadata={"description": "Personnummer or samordningsnummer, as typed."})
    card_number = ma.fields.String(
        validate=ma.validate.Length(min=4, max=80),
        metadata={"description": "The ID06 card number the reader reports."})
    direction = ma.fields.String(required=True, validate=ma.validate.OneOf(DIRECTIONS))
    pin = ma.fields.String(validate=ma.validate.Regexp(r"^\d{4,12}$"),
                           metadata={"description": "The person's door PIN, where the kiosk "
                                     "asks for one."})

    @ma.validates_schema
    def _one_of(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("identity_number" in data) == ("card_number" in data):
            raise ma.ValidationError("Give identity_number or card_number (one of them).",
                                     "identity_number")


@blp.route("/kiosk/entries", methods=["POST"])
@limiter.limit(_kiosk_limit, key_func=_kiosk_key, scope="kiosk-entries")
@blp.arguments(KioskEntryIn)
@blp.response(201, PersonEntryOut, description="Checked in (a new entry, source kiosk).")
@blp.alt_response(200, schema=PersonEntryOut,
                  description="Checked out, or already checked in: the entry.")
def kiosk_entry(data: dict[str, Any]):
    """Check a person in or out at the kiosk's site by identity number or ID06 card.

    A number or card that is unknown, of someone who is not an active member of the site's
    customer, with a wrong PIN, out while not checked in: the same 422
    `kiosk-not-recognised`, whoever it is (the customer's audit trail keeps which it was).
    No or a revoked kiosk token: 401."""
    s = db_session()
    keep_refusal()  # a refusal's audit record outlives the 422
    kiosk = ops.kiosk_by_token(s, _token())
    result = ops.kiosk_entry(s, kiosk, direction=data["direction"],
                             identity_number=data.get("identity_number"),
                             card_number=data.get("card_number"), pin=data.get("pin"))
    return result.entry, (201 if result.created else 200)
