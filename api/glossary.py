"""The API's vocabulary: what each field name means, with an example, in one place.

The OpenAPI document takes a field's description and example from its schema
(``metadata={"description": ..., "example": ...}``) when it has them, else from here by the
field's name, so one name means one thing across every schema and parameter. Names ending in
``_id``/``_ids``/``_at`` are described by pattern. tests/api/test_openapi_complete.py fails on a
field or parameter that neither its schema nor this glossary describes.
"""

from __future__ import annotations

import re
from typing import Any

UUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
WHEN = "2026-03-02T07:04:00+00:00"
CURSOR = "W3sidCI6ICIyMDI2LTAzLTAyVDA3OjA0OjAwKzAwOjAwIn1d"

G: dict[str, tuple[str, Any]] = {
    "id": ("The id.", UUID),
    "at": ("When (UTC, ISO 8601).", WHEN),
    # ------------------------------------------------------------ people and accounts
    "email": ("An e-mail address (sign-in name).", "worker@example.com"),
    "admin_email": ("The first admin's e-mail address; without an account yet, an invitation "
                    "is kept for it.", "admin@byggbolaget.example"),
    "password": ("The password (never returned).", "correct horse battery staple"),
    "current_password": ("The present password, to confirm the change.", "old passphrase 1"),
    "new_password": ("The new password.", "a new long passphrase"),
    "otp": ("A TOTP code from the authenticator app, or a recovery code (accounts with a "
            "second factor).", "492039"),
    "first_name": ("First name.", "Wim"),
    "last_name": ("Last name.", "Worker"),
    "phone": ("Phone number, international form.", "+46701234567"),
    "identity_number": ("Swedish personal identity number (personnummer); masked in answers "
                        "except the ledger.", "19850101-XXXX"),
    "csrf_token": ("Send this in the X-CSRF-Token header on every change made with the "
                   "session cookie.", "5f2b8c0d9a7e4e1c8a3b6d2f0e9c7a51"),
    "token": ("The bearer token: send `Authorization: Bearer <token>`. Shown once.",
              "efd_4hQm…"),
    "device_name": ("A name the person recognises the device by.", "Wim's phone"),
    "platform": ("The device's platform.", "android"),
    "memberships": ("The person's memberships, one per customer.", None),
    "role": ("The role in the customer.", "member"),
    "active": ("Whether it is in force; false switches it off without deleting it.", True),
    "pending": ("True while the invitation waits for the person to register.", True),
    "current": ("Whether it is in force right now.", True),
    "staff_role": ("The vendor staff role, if any.", "support"),
    # ------------------------------------------------------------ customers and sites
    "name": ("The name.", "Kv. Hästen, Solna"),
    "customer_name": ("The customer's name.", "Demo Bygg AB"),
    "org_nr": ("Swedish organisation number (10 digits).", "556123-4567"),
    "employer_name": ("The employer's name, when not the customer (a subcontractor).",
                      "Underentreprenör AB"),
    "employer_org_nr": ("The employer's organisation number.", "559012-3450"),
    "address": ("Street address.", "Solna strandväg 1"),
    "site_address": ("The site's address.", "Solna strandväg 1"),
    "site_name": ("The site's name.", "Kv. Hästen, Solna"),
    "latitude": ("Latitude, WGS 84 degrees.", 59.36),
    "longitude": ("Longitude, WGS 84 degrees.", 18.0),
    "accuracy_m": ("The phone's reported position accuracy, metres.", 10),
    "radius_m": ("The fence's radius, metres.", 150),
    "distance_m": ("Distance from the site or door, whole metres.", 12),
    "geofence": ("`enforce`: check-ins outside the fence are refused; `record`: kept, marked.",
                 "enforce"),
    "ledger_id": ("The personnel ledger's id at the tax authority (personalliggare).",
                  "BYG-2026-0001"),
    "timezone": ("IANA time zone of the site.", "Europe/Stockholm"),
    "store_coarse_position": ("Whether a coarse position (about 1 km) is kept with entries.",
                              False),
    # ------------------------------------------------------------ entries and the ledger
    "inside_geofence": ("Whether the check-in was inside the site's fence.", True),
    "checkout_inside_geofence": ("Whether the check-out was inside the fence.", True),
    "corrected": ("Whether the shift was corrected (the original times stay readable).",
                  False),
    "corrections": ("Every correction, oldest first.", None),
    "entry": ("The entry.", None),
    "source": ("Where it came from.", "app"),
    "from": ("Start of the period (inclusive).", "2026-03-01T00:00:00+00:00"),
    "to": ("End of the period (exclusive).", "2026-04-01T00:00:00+00:00"),
    "open_only": ("Only entries without a check-out.", False),
    "format": ("The answer's format.", "json"),
    # ------------------------------------------------------------ doors
    "entry_code": ("The code printed on the door's Entry sign (scan to go in).",
                   "vuuoXiVxoFqREgUexrtRMd7H"),
    "exit_code": ("The code printed on the door's Exit sign (scan to go out).",
                  "vx6ez424WPSN2Um2J7OTOnAa"),
    "site_entrance": ("Passing this door in or out also checks in or out at the site.", False),
    "anti_passback_exempt_roles": ("Roles the access's anti-passback rule spares.",
                                   ["operator"]),
    "mode": ("lockdown: every door locked for all but the exempt roles; unlock_all: every "
             "door held open (evacuation).", "lockdown"),
    "exempt_roles": ("Roles a lockdown still lets through.", ["operator"]),
    "trust_days": ("Days a door controller may decide from its last signed credential list "
                   "(1 to 30).", 7),
    "methods": ("How the door may be opened: app, app_pin, qr, qr_pin, pin, keycard, "
                "keycard_pin.",
                ["app", "qr", "pin"]),
    "method": ("How the door was opened or tried.", "app"),
    "schedule": ("Weekly opening windows in the site's time zone; none: always.",
                 [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00",
                   "end": "17:00"}]),
    "days": ("Weekdays: mon … sun.", ["mon", "tue"]),
    "start": ("Start, HH:MM local time.", "07:00"),
    "end": ("End, HH:MM local time (24:00 allowed).", "17:00"),
    "pin": ("A PIN typed by the person (4 to 12 digits).", "123456"),
    "code": ("A code: a door's Entry/Exit code, or a one-time verification code.",
             "vuuoXiVxoFqREgUexrtRMd7H"),
    "granted": ("Whether the door opened.", True),
    "reason": ("Why: a door refusal's reason, or a decision's reason.", "outside_geofence"),
    "outcome": ("granted or denied.", "granted"),
    "direction": ("in or out (a scanned Entry or Exit code); null from the app.", "in"),
    "open_now": ("Whether the person may open it right now.", True),
    "guest": ("Whether this is a guest's access.", False),
    "kind": ("The kind.", "pin"),
    "value": ("The value (a keycard number, hex).", "04A2B3C4D5"),
    "credential_hash": ("Keyed hash of the credential (the value itself is never sent).",
                        "9c1e…"),
    "controller": ("The door controller.", None),
    "controllers": ("Door controllers; in the processing record, the controllers (customers) "
                    "the vendor processes for.", "Each customer, for its own tenant data."),
    "online": ("Whether the controller was heard from in the last two minutes.", True),
    "key": ("The controller's key: `Authorization: Controller <key>`. Shown once.",
            "efc_8eRSLHjW…"),
    "list_version": ("The credential list's version; it grows with every change.", 7),
    "signature": ("Ed25519 signature of the payload, base64.", "q2F…"),
    "signing_public_key": ("The public key to verify credential lists with.", None),
    "alg": ("Signature algorithm.", "Ed25519"),
    "payload": ("The signed content, canonical JSON.", "{…}"),
    "events": ("The events.", None),
    "recorded": ("How many were recorded.", 3),
    "duplicates": ("How many were already recorded (a retry).", 0),
    "nonce": ("A fresh random string from the controller, echoed in the signed list.",
              "a1b2c3d4e5f6"),
    "hash": ("SHA-256 of the row, chaining it to the previous one.", "7d8e…"),
    "prev_hash": ("The previous row's hash.", "1a2b…"),
    "seq": ("Position in the chain.", 42),
    # ------------------------------------------------------------ privacy
    "purpose": ("A processing purpose's key.", "newsletter"),
    "purposes": ("Processing purposes.", None),
    "legal_basis": ("GDPR Art. 6 legal basis.", "contract"),
    "legal_basis_description": ("The legal basis in words.", "Necessary for the contract."),
    "legal_basis_detail": ("Which law or contract, in words.", "Skatteförfarandelagen 39 kap."),
    "legal_basis_for_hold": ("Why a legal hold keeps the data.", "Skatteförfarandelagen"),
    "legal_hold": ("Whether a legal hold outranks erasure here.", True),
    "data_categories": ("Categories of personal data.", ["contact.email"]),
    "data_subjects": ("Whose data.", ["workers"]),
    "recipients": ("Who receives the data.", ["the customer"]),
    "transfers": ("Transfers outside the EU/EEA.", []),
    "transfers_note": ("Transfers, in words.", "None outside the EU/EEA."),
    "retention": ("How long it is kept.", None),
    "retention_rules": ("Retention rules.", None),
    "other_retention": ("Other retention rules that apply.", None),
    "period": ("A retention period in words.", "2 years after the shift"),
    "anchor": ("What the period counts from.", "checked_out_at"),
    "anchor_description": ("What the period counts from, in words.", "the end of the shift"),
    "stored_in_system": ("Whether the system stores it.", True),
    "security_measures": ("Technical and organisational measures (Art. 32).",
                          ["encryption at rest"]),
    "sub_processors": ("Sub-processors.", []),
    "processor": ("The processor's details.", None),
    "dpo": ("The data protection officer's contact.", "dpo@vendor.example"),
    "supervisory_authority": ("The supervisory authority.", "IMY, imy.se"),
    "rights": ("The data subject's rights.", ["access", "erasure"]),
    "automated": ("Whether decisions are automated.", False),
    "uses_data_of": ("Whose data the purpose uses.", ["accounts"]),
    "consents": ("Consents, per purpose.", None),
    "channel": ("Where it was given or made: app, web, api, email_link, or session.", "app"),
    "agreed_notice_version": ("The notice version the person agreed to.", 2),
    "notice_version": ("The notice version agreed to.", 2),
    "current_notice": ("The current notice.", None),
    "version": ("A version number.", 2),
    "url": ("A URL.", "https://vendor.example/privacy/newsletter/v2"),
    "text_sha256": ("SHA-256 of the notice text.", "e3b0…"),
    "type": ("The type.", "access"),
    "details": ("Free text from the person.", "My phone number has changed."),
    "decision": ("approve or deny.", "approve"),
    "request_status": ("The whole request's status.", "waiting_for_customer"),
    "parts": ("One part per customer concerned.", None),
    "history": ("What happened, oldest first.", None),
    "months": ("Months to extend by (1 or 2).", 1),
    "extended_months": ("Months the request was extended by.", 0),
    "extension_reason": ("Why it was extended, told to the person.", "Many records."),
    "carried_out_by": ("Who carried it out.", "vendor"),
    "restricted": ("Whether processing is restricted.", False),
    "grace_days": ("Days before the customer's data is purged.", 30),
    "certificate": ("The deletion certificate.", None),
    "certificate_sha256": ("SHA-256 of the certificate.", "5e88…"),
    "last_export_sha256": ("SHA-256 of the last export.", "a665…"),
    "note": ("A note.", "channel=session"),
    "action": ("What was done.", "entries.read"),
    "actor": ("The account that acted.", UUID),
    "actor_role": ("The actor's role.", "admin"),
    "author_role": ("Who wrote it: customer or support.", "customer"),
    "object_type": ("The kind of object.", "entry"),
    # ------------------------------------------------------------ support
    "subject": ("The subject.", "The tool store door sticks"),
    "body": ("The text.", "It needs a push after the beep."),
    "messages": ("The messages, oldest first.", None),
    "grants": ("Access grants for support.", None),
    "scopes": ("What support may read: members, sites, entries.", ["members"]),
    "expires_in_hours": ("Hours until the grant ends (1 to 168).", 24),
    "content_removed": ("Whether the content was removed by retention.", False),
    "admin": ("The first admin.", None),
    # ------------------------------------------------------------ lists and problems
    "items": ("The items of this page.", None),
    "next_cursor": ("Pass as `cursor` for the next page; null on the last.", CURSOR),
    "cursor": ("The `next_cursor` of the previous page.", CURSOR),
    "limit": ("Items per page (1 to 200).", 50),
    "page": ("Page number.", 1), "total": ("Items in all.", 1),
    "total_pages": ("Pages in all.", 1), "first_page": ("First page.", 1),
    "last_page": ("Last page.", 1), "next_page": ("Next page.", 2),
    "previous_page": ("Previous page.", 1),
    "title": ("A short summary.", "Door not opened"),
    "detail": ("What happened, in words, and what to do.", "Move closer and try again."),
    "status": ("The status.", "open"),
    "errors": ("Field → messages, for a validation error.", {"email": ["Not a valid email."]}),
    "slug": ("A problem type's slug: the end of its `type`.", "outside-geofence"),
    "description": ("A description.", "Necessary for the contract."),
    "Idempotency-Key": ("A new unique string per check-in (e.g. a UUID); a retry with the same "
                        "key returns the same entry instead of a second one.",
                        "7f1c1b1e-4f54-4a63-9a0e-0b5a3f1d2c11"),
    "new_codes": ("Whether new recovery codes were made.", False),
    # ------------------------------------------------------------ added this wave
    "person_name": ("The person's name, beside the id (admins' lists).", "Anna Svensson"),
    "door_name": ("The door's name, beside the id.", "Main gate"),
    "applies_to": ("Which rows the rule covers, where it does not cover a whole table.",
                   "entries at a site that keeps a personnel ledger"),
    "attempts": ("Delivery attempts made so far.", 2),
    "response_code": ("The receiver's HTTP status at the last attempt (none: no answer).",
                      500),
    "error": ("Why the last attempt failed, when it did (no receiver's text).", "timeout"),
    "event_type": ("The event's type.", "entry.created"),
    "disabled_reason": ("Why the webhook was disabled, if it is.",
                        "deliveries failed for 24 hours"),
    "secret": ("The signing secret (Standard Webhooks), shown once: verify "
               "`webhook-signature` with it.", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    "auto_checkout": ("Closed by the automatic check-out at the site's set time, not by the "
                      "person.", False),
    "auto_checkout_time": ("The site's automatic check-out, local time of day (HH:MM); none: "
                           "off.", "18:00"),
    "late_registration_hours": ("How old a check-in's `occurred_at` may be (hours) before it "
                                "is refused and left to an admin's correction.", 24),
    "card_number": ("An ID06 card number as the reader gives it (kept only as a keyed hash).",
                    "04A2B9C1D2E380"),
    "count": ("How many.", 42),
    "ledger": ("The site's personnel-ledger rows for the period.", []),
    "require_pin": ("The kiosk also asks for the person's PIN for this site.", False),
    "automated_decision_making": ("Whether decisions are made about people by automated "
                                  "means alone (GDPR Art. 22): never.", False),
    "profiling": ("Whether people are profiled (GDPR Art. 4(4)): never.", False),
    "statement": ("The statement in words.", "No decision about a person is made by "
                  "automated means alone, and no one is profiled."),
    "unsubscribed": ("The newsletter consent is withdrawn.", True),
}


def lookup(name: str) -> tuple[str, Any] | None:
    """(description, example) for a field or parameter name, or None."""
    if name in G:
        return G[name]
    if m := re.fullmatch(r"(\w+)_ids", name):
        return f"Ids of the {m[1].replace('_', ' ')}s.", [UUID]
    if m := re.fullmatch(r"(\w+)_id", name):
        return f"The {m[1].replace('_', ' ')}'s id.", UUID
    if m := re.fullmatch(r"(\w+)_at", name):
        return f"When {m[1].replace('_', ' ')} (UTC, ISO 8601).", WHEN
    if m := re.fullmatch(r"(\w+)_until", name):
        return f"Until when: {m[1].replace('_', ' ')} (UTC).", WHEN
    if m := re.fullmatch(r"valid_(from|to)", name):
        return f"Valid {m[1]} (UTC); none: no limit.", WHEN
    return None
