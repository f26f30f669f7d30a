"""What a refused door opening tells the person: each reason of entryfy.ops.doors.REASONS in
words, with what to do. Kept apart from the decision so the words can change (or be
translated) without touching the rules."""

from __future__ import annotations

from entryfy.ops.doors import REASONS, Decision

DETAILS: dict[str, str] = {
    "membership_inactive": "Your membership at this workplace is switched off. Ask its "
                           "administrator to reactivate it.",
    "membership_not_yet_valid": "Your membership at this workplace has not started yet. Try "
                                "again from its start date, or ask its administrator.",
    "membership_expired": "Your membership at this workplace has ended. Ask its administrator "
                          "to extend it.",
    "lockdown": "The site is locked down: its doors are locked. Follow the instructions of "
                "security staff.",
    "no_access": "You have no access to this door. Ask the workplace's administrator for one.",
    "access_not_valid": "Your access to this door is not valid now (it has not started or has "
                        "ended). Ask the administrator to extend it.",
    "outside_schedule": "This door is outside its opening hours for you right now. Try again "
                        "within your access's hours.",
    "method_not_allowed": "Your access to this door does not allow this way of opening it. "
                          "Use a method listed for the door in GET /api/v1/me/doors.",
    "pin_required": "This door needs your PIN as well. Send it in `pin`.",
    "too_many_attempts": "Too many wrong PINs. Wait 15 minutes, or ask the administrator for "
                         "a new PIN.",
    "wrong_pin": "The PIN is wrong. Check it and try again; after 5 wrong PINs in 15 minutes "
                 "the door stays shut for a while.",
    "credential_not_valid": "This card or code is not valid for you now. Ask the "
                            "administrator for a new one.",
    "position_required": "Opening from the phone needs your position. Send `latitude` and "
                         "`longitude` (allow location access in the app).",
    "outside_geofence": "You are too far from the door. Move closer and try again.",
    "anti_passback": "You are already inside this site: you did not pass out since you came "
                     "in. Leave through an exit first, or ask security staff.",
}
assert set(DETAILS) == set(REASONS), "every refusal reason needs its words"


def detail(decision: Decision) -> str:
    assert decision.reason is not None
    text = DETAILS[decision.reason]
    if decision.reason == "outside_geofence" and decision.distance_m is not None:
        text = (f"You are {decision.distance_m} m from the door; it opens from the phone "
                f"within {decision.radius_m} m. Move closer and try again.")
    return text
