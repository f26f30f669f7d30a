"""Sites: where people check in and where doors are. Plain functions that flush, never commit."""

from __future__ import annotations

import functools
import uuid
import zoneinfo
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from entryfy.errors import Unprocessable, ValidationFailed
from entryfy.ops.auditing import record_change
from entryfy.ops.doors import lockdowns
from entryfy.ops.tenant import load_owned
from models import Entry, Membership, Site
from models.tenancy import system_scope
from models.vocab import GEOFENCE_MODES

# The database's check constraint (models.customers.Site) says the same; checked here first so
# a bad value is a 400 naming the field, not a refused commit.
MIN_RADIUS_M = 10
MAX_RADIUS_M = 5000
SITE_FIELDS = ("name", "address", "latitude", "longitude", "radius_m", "geofence", "ledger_id",
               "timezone", "store_coarse_position", "late_registration_hours",
               "auto_checkout_time")
MAX_LATE_REGISTRATION_HOURS = 24 * 7
DEFAULT_TIMEZONE = "Europe/Stockholm"


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def valid_timezone(name: str) -> bool:
    """An IANA zone name this system knows. Looked up in the list rather than opened, so no
    string ever becomes a file path."""
    return name in _zones()


def _check(fields: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    errors: dict[str, list[str]] = {}
    unknown = set(out) - set(SITE_FIELDS)
    for k in sorted(unknown):
        errors[k] = ["Unknown field."]
    if "name" in out:
        out["name"] = (out["name"] or "").strip()
        if not out["name"]:
            errors["name"] = ["Give the site a name."]
    for key in ("address", "ledger_id"):
        if isinstance(out.get(key), str):
            out[key] = out[key].strip() or None
    if "radius_m" in out and not MIN_RADIUS_M <= out["radius_m"] <= MAX_RADIUS_M:
        errors["radius_m"] = [f"Between {MIN_RADIUS_M} and {MAX_RADIUS_M} metres."]
    if "latitude" in out and not -90 <= out["latitude"] <= 90:
        errors["latitude"] = ["Between -90 and 90."]
    if "longitude" in out and not -180 <= out["longitude"] <= 180:
        errors["longitude"] = ["Between -180 and 180."]
    if "geofence" in out and out["geofence"] not in GEOFENCE_MODES:
        errors["geofence"] = [f"One of: {', '.join(GEOFENCE_MODES)}."]
    if "timezone" in out:
        if out["timezone"] is None:
            out["timezone"] = DEFAULT_TIMEZONE
        elif not valid_timezone(out["timezone"]):
            errors["timezone"] = ["Not an IANA time zone, e.g. Europe/Stockholm."]
    if "late_registration_hours" in out and not (
            0 <= (out["late_registration_hours"] or 0) <= MAX_LATE_REGISTRATION_HOURS):
        errors["late_registration_hours"] = [f"0 to {MAX_LATE_REGISTRATION_HOURS} hours."]
    if out.get("late_registration_hours", 0) is None:
        out["late_registration_hours"] = 24
    if errors:
        raise ValidationFailed(errors)
    return out


def create_site(session: Session, customer_id: uuid.UUID, fields: Mapping[str, Any], *,
                by: Membership | None = None) -> Site:
    data = _check(fields)
    missing = [k for k in ("name", "latitude", "longitude", "radius_m") if k not in data]
    if missing:
        raise ValidationFailed({k: ["Missing data for required field."] for k in missing})
    data.setdefault("geofence", "enforce")
    data.setdefault("timezone", DEFAULT_TIMEZONE)
    site = Site(customer_id=customer_id, **data)
    # A lockdown of every site of the customer covers a site added while it is in force.
    site.lockdown_id = lockdowns.customer_wide_in_force(session, customer_id)
    session.add(site)
    session.flush()
    record_change(session, by, "site.create", customer_id=customer_id, object_type="site",
                  object_id=site.id)
    return site


def get_site(session: Session, customer_id: uuid.UUID, site_id: uuid.UUID) -> Site:
    return load_owned(session, Site, customer_id, site_id, "site")


def update_site(session: Session, site: Site, changes: Mapping[str, Any], *,
                by: Membership | None = None) -> Site:
    for key, value in _check(changes).items():
        setattr(site, key, value)
    session.flush()
    record_change(session, by, "site.update", customer_id=site.customer_id,
                  object_type="site", object_id=site.id)
    return site


def delete_site(session: Session, site: Site, *, by: Membership | None = None) -> None:
    """Remove a site, unless attendance was recorded there: deleting it would cascade into the
    entries, and the personnel ledger must be kept for its own period (the retention job
    removes them when it ends; then the site can go)."""
    # System scope for the check alone: an entry must stop the deletion wherever it is filed.
    with system_scope(session, "check a site has no entries before deleting it"):
        # The site's customer named too: the entries' index of a site leads with it.
        has_entries = session.scalar(select(Entry.id).where(
            Entry.customer_id == site.customer_id, Entry.site_id == site.id).limit(1))
    if has_entries is not None:
        raise Unprocessable("Attendance was recorded at this site; its entries belong to the "
                            "personnel ledger and must be kept.", slug="site-has-entries")
    customer_id, site_id = site.customer_id, site.id
    session.delete(site)
    session.flush()
    record_change(session, by, "site.delete", customer_id=customer_id, object_type="site",
                  object_id=site_id)
