"""Every problem ``type`` the API can answer with, in one place: its HTTP status, a title and
what the client (or the person) should do. Served at ``GET /api/v1/problems`` (JSON, or HTML
with one anchor per slug), and every problem's ``type`` is ``/api/v1/problems/<slug>``.

A new ``slug=`` anywhere in the code must be added here: tests/api/test_problem_catalogue.py
reads the code's raises and fails on a slug this catalogue does not name.
"""

from __future__ import annotations

from typing import NamedTuple

from entryfy.errors import PROBLEM_BASE


class ProblemType(NamedTuple):
    status: int
    title: str
    action: str  # what to do about it


P = ProblemType

CATALOGUE: dict[str, ProblemType] = {
    # ------------------------------------------------------------ any request
    "bad-request": P(400, "Bad request", "Fix the request as `detail` says."),
    "malformed-json": P(400, "Malformed JSON",
                        "Send a valid JSON body with `Content-Type: application/json`."),
    "validation-error": P(400, "The request is not valid",
                          "Fix the fields listed in `errors` (field -> messages); unknown "
                          "fields are refused too."),
    "invalid-value": P(400, "A value cannot be stored",
                       "A value is out of range or badly encoded; send a smaller or plainer "
                       "value."),
    "unauthorized": P(401, "Not signed in",
                      "Sign in: `POST /api/v1/auth/login` (browser cookie) or "
                      "`POST /api/v1/auth/tokens` and `Authorization: Bearer <token>`."),
    "forbidden": P(403, "Not allowed", "Your account may not do this; ask an admin."),
    "not-found": P(404, "Not found",
                   "Check the id. Objects of another customer answer 404 too, by design."),
    "method-not-allowed": P(405, "Method not allowed", "Use a method listed in `Allow`."),
    "not-acceptable": P(406, "Not acceptable", "Accept `application/json`."),
    "conflict": P(409, "Conflict", "Reload the object and try again."),
    "constraint-violation": P(409, "Conflicts with existing data",
                              "Something with the same unique value exists, or another "
                              "request changed it at the same time; reload and retry."),
    "payload-too-large": P(413, "Payload too large", "Send a smaller body (at most 256 KiB)."),
    "unsupported-media-type": P(415, "Unsupported media type",
                                "Send the body as JSON with `Content-Type: application/json`."),
    "rule-violation": P(422, "Refused by a business rule", "Read `detail`: it says which rule."),
    "too-many-requests": P(429, "Too many requests",
                           "Wait for the seconds in `Retry-After`, then try again."),
    "internal-error": P(500, "Internal server error",
                        "Not your fault; it is logged. Try again later, and report it if it "
                        "persists."),
    "temporarily-unavailable": P(503, "Temporarily unavailable",
                                 "The database or another dependency is busy or down; retry "
                                 "after `Retry-After` seconds."),
    "error": P(400, "Error", "An HTTP error without a more specific type; read `detail`."),
    # ------------------------------------------------------------ sign-in
    "invalid-credentials": P(401, "Wrong email or password",
                             "Check both; after repeated failures you get 429 for a while."),
    "otp-required": P(401, "Second factor required",
                      "This account has a second factor: send `otp` (a TOTP code or a "
                      "recovery code) with the email and password."),
    "otp-invalid": P(401, "Wrong second factor",
                     "Use a fresh TOTP code from your authenticator app, or an unused "
                     "recovery code."),
    "csrf-failed": P(403, "Missing or wrong CSRF token",
                     "A browser signed in with the session cookie must send the `csrf_token` "
                     "from the login answer in the `X-CSRF-Token` header on every POST, PUT, "
                     "PATCH and DELETE. Bearer-token clients need no CSRF token."),
    "code-invalid": P(422, "Wrong or expired code",
                      "The e-mail code is wrong, expired, used up or replaced by a newer one; "
                      "ask for a new code."),
    "email-taken": P(409, "Email already in use", "Sign in instead, or use another address."),
    # ------------------------------------------------------------ roles
    "role-required": P(403, "Your role does not allow this",
                       "Ask one of the customer's admins to do it, or to change your role."),
    "staff-only": P(403, "Vendor staff only", "Only the vendor's support staff may do this."),
    # ------------------------------------------------------------ check-in and the ledger
    "identity-number-required": P(422, "Identity number required",
                                  "The site keeps a personnel ledger: add your identity number "
                                  "(`PATCH /api/v1/me`) and check in again."),
    "outside-geofence": P(422, "Outside the site's area",
                          "`distance_m` says how far from the site you are and `radius_m` how "
                          "near you must be; move closer and try again."),
    "already-checked-in": P(409, "Already checked in",
                            "Check out of the entry in `entry_id` first "
                            "(`POST /api/v1/entries/{entry_id}/checkout`)."),
    "idempotency-key-reused": P(409, "Idempotency-Key used for another request",
                                "Make a new `Idempotency-Key` (e.g. a UUID) for each new "
                                "check-in; reuse a key only to retry the same one."),
    "site-has-entries": P(422, "The site has entries",
                          "Its entries belong to the personnel ledger and must be kept; "
                          "rename the site or stop using it instead of deleting it."),
    "time-in-future": P(422, "Time in the future", "Correct to a time that has passed."),
    "checkout-before-checkin": P(422, "Check-out before check-in",
                                 "Give a check-out after the check-in."),
    "no-change": P(422, "The correction changes nothing", "Send at least one different time."),
    "overlapping-shift": P(422, "Overlapping shift",
                           "The corrected times overlap another shift of the same person at "
                           "the site; correct that one first."),
    # ------------------------------------------------------------ doors
    "door-refused": P(403, "Door not opened",
                      "`reason` says why (e.g. `outside_geofence` with `distance_m` and "
                      "`radius_m`, `outside_schedule`, `pin_required`) and `detail` says what "
                      "to do; the attempt is recorded under `event_id`."),
    "door-not-found": P(404, "No such door", "Check the door ids; they must be this customer's."),
    "member-not-found": P(404, "No such member",
                          "Check the member ids (membership ids, not account ids)."),
    "doors-of-several-sites": P(422, "Doors of several sites",
                                "An access covers doors of one site; make one access per site."),
    "pin-space-exhausted": P(409, "No free PIN", "Try again; a free PIN is drawn each time."),
    "keycard-taken": P(409, "Card already enrolled",
                       "That card belongs to someone in this customer; revoke it there first."),
    "member-pending": P(422, "Member has not registered yet",
                        "Wait until the person has registered and accepted the invitation."),
    "guest-window-past": P(422, "Guest window already ended", "Give a `valid_to` in the future."),
    "guest-window-too-long": P(422, "Guest window too long",
                               "Guests are short-term (at most 90 days); make a member instead."),
    "already-member": P(409, "Already a member",
                        "The person is already a member or invited; change that membership."),
    "last-admin": P(422, "Last admin",
                    "Make someone else admin first; a customer always keeps an active admin."),
    # ------------------------------------------------------------ door controllers
    "controller-key-required": P(401, "Controller key required",
                                 "Send `Authorization: Controller <key>` with the key given "
                                 "when the controller was made."),
    "controller-key-invalid": P(401, "Unknown controller key",
                                "The key is wrong or was rotated; configure the current key."),
    "not-this-controllers-door": P(422, "Not this controller's door",
                                   "Post events only for the doors in the controller's "
                                   "credential list."),
    "unlock-schedule-invalid": P(422, "Unlock schedule not valid",
                                 "Fix the windows named in `errors`: each ends after it starts "
                                 "(split one across midnight in two) and no two overlap on a "
                                 "day."),
    "holidays-invalid": P(422, "Holidays not valid",
                          "Dates YYYY-MM-DD from a year back to five years ahead."),
    "lockdown-active": P(409, "Lockdown in force",
                         "A lockdown or unlock-all is in force at the site: end it "
                         "(DELETE /customers/{id}/lockdowns/{lockdown_id}) first."),
    "door-without-controller": P(422, "Door without controller",
                                 "Only a door on a controller can be unlocked remotely: set "
                                 "its `controller_id`."),
    "event-in-future": P(422, "Event in the future", "Set the controller's clock (NTP)."),
    "event-too-old": P(422, "Event too old",
                       "Events older than the access log keeps (90 days) are not accepted."),
    # ------------------------------------------------------------ support
    "grant-required": P(403, "No grant for this scope",
                        "Ask the customer to grant this scope on the ticket; grants expire."),
    "ticket-closed": P(422, "Ticket closed", "Open a new ticket."),
    "ticket-full": P(422, "Ticket full", "Open a new ticket."),
    "org-nr-taken": P(409, "Organisation number taken",
                      "One company is one customer; use the existing customer."),
    # ------------------------------------------------------------ privacy
    "verification-not-found": P(404, "No such verification",
                                "Check the id, or make the request again."),
    "code-used": P(409, "Code already used", "Make the request again for a new code."),
    "code-expired": P(422, "Code expired", "Make the request again for a new code."),
    "code-attempts-exhausted": P(422, "Too many wrong codes",
                                 "Make the request again for a new code."),
    "code-wrong": P(422, "Wrong code", "Check the code in the e-mail; `tries_left` says how many "
                    "tries remain."),
    "already-decided": P(409, "Already decided", "Reload the request; its part was decided."),
    "not-waiting": P(409, "Not waiting for a decision", "Reload the request to see its status."),
    "request-closed": P(409, "Request closed", "Make a new request."),
    "already-extended": P(422, "Already extended", "A request can be extended once."),
    "already-offboarding": P(409, "Already offboarding", "The customer is being offboarded."),
    "grace-period": P(422, "Grace period out of range", "Give 0 to 365 days."),
    "already-purged": P(409, "Already purged", "Nothing is left to purge."),
    "grace-period-running": P(422, "Grace period running",
                              "Wait until the grace period ends (or use --force)."),
    "not-consent-based": P(422, "Not based on consent",
                           "Only purposes whose legal basis is consent can be given or "
                           "withdrawn; see GET /api/v1/privacy/processing-activities."),
    "no-notice": P(422, "No notice published", "Wait until a notice is published."),
    "stale-notice": P(422, "Stale notice version",
                      "Read the current notice and send its version (`current_version`)."),
    # ------------------------------------------------------------ added this wave
    "account-frozen": P(401, "Account frozen",
                        "The account is being erased at its owner's request; nothing more is "
                        "recorded for it. Nothing to retry."),
    "email-unverified": P(401, "E-mail address not confirmed",
                          "Enter the code mailed to the address at "
                          "`POST /api/v1/auth/verify-email`, then sign in again."),
    "invitation-not-found": P(404, "No such invitation",
                              "Invitations are shown to the invited, proven address only: "
                              "see `GET /api/v1/me/invitations`."),
    "membership-ended": P(409, "Membership ended meanwhile",
                          "The membership ended while the request ran (e.g. the account is "
                          "being erased); nothing was recorded."),
    "pin-site-required": P(422, "Name the PIN's site",
                           "A PIN opens the doors of one site: send `site_id`."),
    "card-taken": P(409, "Card already enrolled",
                    "That ID06 card is enrolled for someone else at this customer; remove it "
                    "there first."),
    "kiosk-not-recognised": P(422, "Not recognised at the kiosk",
                              "Ask the site's staff: the kiosk says no more, on purpose."),
    "kiosk-token-invalid": P(401, "Kiosk token missing or revoked",
                             "Send `Authorization: Bearer <kiosk token>`; an admin makes a new "
                             "kiosk if it was revoked."),
    "member-not-active": P(422, "Not an active member",
                           "A foreman registers only active members of the site's customer."),
    "occurred-in-future": P(422, "Time in the future",
                            "Send the time the phone recorded, not later than now."),
    "occurred-too-old": P(422, "Registration too late",
                          "Older than the site's `late_registration_hours`: ask an admin to "
                          "add it as a correction."),
    "occurred-before-membership": P(422, "Before the membership began",
                                    "The time given is before the person's membership began."),
    "unsubscribe-token-invalid": P(404, "No such subscription",
                                   "Use the link of the latest newsletter, or withdraw consent "
                                   "at `PUT /api/v1/me/consents`."),
    "webhook-disabled": P(422, "Webhook disabled",
                          "It was disabled after a day of failed deliveries: create it again."),
    "webhook-limit": P(422, "Too many webhooks",
                       "Delete one before creating another."),
    "witness-unavailable": P(503, "Evidence store unavailable",
                             "The erasure stopped before completion and stays open; retry "
                             "after `Retry-After` seconds."),
}


def type_url(slug: str) -> str:
    return PROBLEM_BASE + slug
