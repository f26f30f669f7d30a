"""Attendance: check-in and check-out (the app), passages (doors), corrections, the ledger.

Plain functions over a session: they flush, never commit, and raise ``entryfy.errors``.
``check_in`` finds the site itself, across the person's current customers only;
``record_passage`` (the doors engine) gets a site its caller loaded. Both check the
membership themselves: active, current and not a guest.

One open entry per person and site, and one entry per (person, Idempotency-Key), are unique
indexes; the code relies on them (INSERT ... ON CONFLICT DO NOTHING, then re-read) instead
of asking first, which would race.

Minimisation: an entry keeps the geofence verdict and the distance rounded to
whole metres, a coarse (about 1 km) position only when the site asks for one, and the client
address truncated; never the raw coordinates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    cast,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from entryfy import clock, security
from entryfy.errors import Conflict, Forbidden, NotFound, Unprocessable, ValidationFailed
from entryfy.ops import events, geo, identity
from entryfy.ops.tenant import load_owned
from models import Account, Entry, EntryCorrection, Membership, Site
from models.hot import HotStatement
from models.tenancy import CUSTOMER_ROWS_ONLY, ScopedInsert, ScopedQuery
from models.vocab import DIRECTIONS, Role
from privacy import audit

MAX_IDEMPOTENCY_KEY = 100  # the column's length
MAX_REASON = 1000


_ENTRY_COLUMNS = list(Entry.__table__.columns)
# A new entry as the check-in inserted it: every column of the row, read-only, not attached
# to the session (building and attaching an ORM object costs the hot path more than the rest
# of its Python; a later change in the same request loads the row like any other).
class EntryRow(NamedTuple):
    id: uuid.UUID
    created_at: dt.datetime
    customer_id: uuid.UUID
    site_id: uuid.UUID
    account_id: uuid.UUID | None
    membership_id: uuid.UUID | None
    employer_name: str | None
    employer_org_nr: str | None
    checked_in_at: dt.datetime
    checked_out_at: dt.datetime | None
    inside_geofence: bool | None
    distance_m: int | None
    coarse_latitude: float | None
    coarse_longitude: float | None
    checkout_inside_geofence: bool | None
    idempotency_key: str | None
    source: str
    ip_prefix: str | None
    restricted: bool
    registered_by_id: uuid.UUID | None
    auto_checkout: bool


# The row inserts every column: a column added to entries must be added above as well.
if set(EntryRow._fields) != {c.key for c in _ENTRY_COLUMNS}:
    raise RuntimeError("EntryRow no longer matches the columns of entries")


@dataclasses.dataclass(frozen=True)
class CheckIn:
    entry: Entry | EntryRow
    created: bool  # False: the same Idempotency-Key was seen before; this is that entry


_M = Membership.__table__.c
_S = Site.__table__.c
_E = Entry.__table__.c


def _current_clause(now: Any) -> ColumnElement[bool]:
    """A membership that counts for attendance: current (Membership.current), not a guest."""
    return and_(Membership.current(now), _M.role != Role.GUEST)


def current_membership(session: Session, account_id: uuid.UUID,
                       customer_id: uuid.UUID) -> Membership | None:
    """The person's active, current, non-guest membership in the customer, if any."""
    return session.scalar(
        select(Membership).where(
            Membership.customer_id == customer_id, Membership.account_id == account_id,
            _current_clause(clock.now()),
        )
    )


def _by_key(session: Session, account_id: uuid.UUID, key: str) -> Entry | None:
    return session.scalar(
        select(Entry).where(Entry.account_id == account_id, Entry.idempotency_key == key)
    )


def open_entry(session: Session, account_id: uuid.UUID, site_id: uuid.UUID) -> Entry | None:
    return session.scalar(
        select(Entry).where(
            Entry.account_id == account_id,
            Entry.site_id == site_id,
            Entry.checked_out_at.is_(None),
        )
    )


def _replay(entry: Entry, site_id: uuid.UUID) -> CheckIn:
    if entry.site_id != site_id:
        # Reusing a key for a different request is a client bug; answering with the first
        # entry would hide it.
        raise Conflict("This Idempotency-Key was used for another check-in.",
                       slug="idempotency-key-reused")
    return CheckIn(entry, created=False)


def _already_in(entry_id: uuid.UUID) -> Conflict:
    return Conflict("You are already checked in at this site; check out first.",
                    slug="already-checked-in", entry_id=str(entry_id))


def _who_was_first(session: Session, account_id: uuid.UUID, idempotency_key: str,
                   site_id: uuid.UUID) -> CheckIn:
    """A unique index refused the new entry (the transaction lives on): see who was first.
    The same Idempotency-Key's entry is a replay; an open entry at the site, already in."""
    won = _by_key(session, account_id, idempotency_key)
    if won is not None:
        return _replay(won, site_id)
    other = open_entry(session, account_id, site_id)
    if other is not None:
        raise _already_in(other.id)
    raise Conflict("The check-in conflicts with existing data.", slug="constraint-violation")


# The check-in's lookup, built once (each call only binds values) and run as Core: the hot
# path makes no ORM query. It scopes the transaction to the person's current customers and
# finds the site together with the person's membership there (an inner join: no current
# membership, no site), a replayed Idempotency-Key, and whether the person has an identity
# number on file; one round trip on PostgreSQL (models.tenancy.ScopedQuery).
_CHECK_IN_SCOPE = select(_M.customer_id).where(_M.account_id == bindparam("account_id"),
                                               _current_clause(bindparam("now")))
_CHECK_IN_LOOKUP = (
    select(
        _S.id, _S.customer_id, _S.latitude, _S.longitude, _S.radius_m, _S.geofence,
        _S.ledger_id, _S.store_coarse_position,
        _M.id.label("membership_id"), _M.employer_name, _M.employer_org_nr,
        select(_E.id)
        .where(_E.account_id == bindparam("account_id"),
               _E.idempotency_key == bindparam("key"))
        .scalar_subquery().label("replayed_id"),
        select(Account.__table__.c.identity_number_enc.is_not(None))
        .where(Account.__table__.c.id == bindparam("account_id"))
        .scalar_subquery().label("has_identity"),
        # Does a webhook listen for new entries? Asked here, so a customer without one pays
        # no statement for it (events.emit runs only when this is true).
        events.listening("entry.created", _S.customer_id).label("webhooks"),
    )
    .select_from(Site.__table__.join(
        Membership.__table__,
        and_(_M.customer_id == _S.customer_id, _M.account_id == bindparam("account_id"),
             _current_clause(bindparam("now"))),
    ))
    .where(_S.id == bindparam("site_id"))
)
_CHECK_IN_TARGET = ScopedQuery(_CHECK_IN_SCOPE, _CHECK_IN_LOOKUP)


class Fence(NamedTuple):
    """What a site's geofence verdict is computed from."""

    latitude: float
    longitude: float
    radius_m: int
    geofence: str
    store_coarse_position: bool


# The geofences of sites this process has seen, by site id. Only a guess to compute the
# verdict from before asking the database: the check-in's one statement inserts only while
# the site still has exactly these values (it compares them), so a site moved since (another
# process, an admin) is never judged by its old place; its new values replace the guess.
# Bounded: a process that meets more sites forgets them all and starts again.
_FENCES: dict[uuid.UUID, Fence] = {}
MAX_FENCES = 10_000


def _remember_fence(site: Any) -> Fence:
    fence = Fence(site.latitude, site.longitude, site.radius_m, site.geofence,
                  site.store_coarse_position)
    if len(_FENCES) >= MAX_FENCES:
        _FENCES.clear()
    _FENCES[site.id] = fence
    return fence


# The entry's columns the lookup's row gives (the rest are the check-in's own values).
_FROM_TARGET = {"customer_id": "customer_id", "site_id": "id", "membership_id": "membership_id",
                "employer_name": "employer_name", "employer_org_nr": "employer_org_nr"}


def _write_entry(found: Any) -> Any:
    """The INSERT of ``_CHECK_IN_WRITE``: the new entry from the lookup's row, only when
    every rule the lookup answers passes (a current membership's site, no replayed key, an
    identity number where the site keeps a ledger) and the site's geofence is still the one
    the verdict was computed from; the unique indexes decide the rest, as in
    ``_insert_unless_taken``."""
    # Cast: in a SELECT list a NULL parameter has no type of its own to insert as.
    values = [found.c[_FROM_TARGET[c.key]] if c.key in _FROM_TARGET
              else cast(bindparam(c.key, type_=c.type), c.type) for c in _ENTRY_COLUMNS]
    rows = select(*values).where(
        found.c.id.is_not(None), found.c.replayed_id.is_(None),
        or_(found.c.ledger_id.is_(None), found.c.has_identity.is_(True)),
        *(found.c[f] == bindparam(f"fence_{f}") for f in Fence._fields),
    )
    return (pg_insert(Entry.__table__).from_select([c.key for c in _ENTRY_COLUMNS], rows)
            .on_conflict_do_nothing().returning(_E.id))


# The check-in in one statement on PostgreSQL, when the site's geofence is known: the lookup
# of _CHECK_IN_TARGET and the INSERT (models.tenancy.ScopedInsert).
_CHECK_IN_WRITE = ScopedInsert(_CHECK_IN_SCOPE, _CHECK_IN_LOOKUP, _write_entry)


def _new_entry(target: Any, *, entry_id: uuid.UUID, now: dt.datetime, account_id: uuid.UUID,
               verdict: geo.Verdict, coarse: tuple[float | None, float | None],
               idempotency_key: str, ip_prefix: str | None) -> EntryRow:
    return EntryRow(
        id=entry_id,
        created_at=now,
        customer_id=target.customer_id,
        site_id=target.id,
        account_id=account_id,
        membership_id=target.membership_id,
        employer_name=target.employer_name,
        employer_org_nr=target.employer_org_nr,
        checked_in_at=now,
        checked_out_at=None,
        inside_geofence=verdict.inside,
        distance_m=verdict.distance_m,
        coarse_latitude=coarse[0],
        coarse_longitude=coarse[1],
        checkout_inside_geofence=None,
        idempotency_key=idempotency_key,
        source="app",
        ip_prefix=ip_prefix,
        restricted=False,
        registered_by_id=None,
        auto_checkout=False,
    )


def _judge(fence: Fence, latitude: float, longitude: float, accuracy_m: float | None
           ) -> tuple[geo.Verdict, tuple[float | None, float | None]]:
    verdict = geo.check(fence.latitude, fence.longitude, fence.radius_m, latitude, longitude,
                        accuracy_m)
    coarse = geo.coarse(latitude, longitude) if fence.store_coarse_position else (None, None)
    return verdict, coarse


def _created(session: Session, conn: Connection, target: Any, entry: EntryRow) -> CheckIn:
    if target.webhooks:
        events.emit(session, entry.customer_id, "entry.created", {
            "id": entry.id, "site_id": entry.site_id, "member_id": entry.membership_id,
            "checked_in_at": entry.checked_in_at, "inside_geofence": entry.inside_geofence,
            "source": entry.source,
        }, conn=conn)
    return CheckIn(entry, created=True)


def check_in(session: Session, *, account_id: uuid.UUID, site_id: uuid.UUID,
             latitude: float, longitude: float, accuracy_m: float | None = None,
             idempotency_key: str, ip: str | None = None) -> CheckIn:
    """Open a shift for the person ``account_id`` at the site ``site_id`` from the app.

    The site is looked up across the person's current customers only (the session is scoped
    to them, as for GET /me/sites): any other customer's site is NotFound, like a missing one,
    and so is a site of a customer where the person is not a current (non-guest) member.
    The same ``idempotency_key`` again returns the first entry (``created=False``), also when
    two requests race: the unique index (account_id, idempotency_key) decides, and the loser
    reads the winner's row.

    Every round trip counts here (check-in is the hot path, see bench/checkin.py): one
    statement scopes the session and finds the site with everything the rules need, one
    inserts.
    """
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise ValidationFailed({"Idempotency-Key": ["Send 1 to 100 characters."]})
    session.flush()  # Core statements follow: the session's pending changes first
    conn = session.connection()
    now = clock.now()
    lookup = {"account_id": account_id, "key": idempotency_key, "site_id": site_id, "now": now}
    new: dict[str, Any] = {"entry_id": uuid.uuid4(), "now": now, "account_id": account_id,
           "idempotency_key": idempotency_key, "ip_prefix": security.truncate_ip(ip)}
    fence = _FENCES.get(site_id) if conn.dialect.name == "postgresql" else None
    if fence is not None:
        verdict, coarse = _judge(fence, latitude, longitude, accuracy_m)
        if verdict.inside or fence.geofence != "enforce":
            # The verdict first, from the known geofence; then one statement looks up and
            # inserts (every rule checked in it), or inserts nothing and answers the row
            # the rules below judge as usual.
            entry_values: dict[str, Any] = {c.key: None for c in _ENTRY_COLUMNS
                                            if c.key not in _FROM_TARGET}
            entry_values.update(
                id=new["entry_id"], created_at=now, account_id=account_id, checked_in_at=now,
                inside_geofence=verdict.inside, distance_m=verdict.distance_m,
                coarse_latitude=coarse[0], coarse_longitude=coarse[1],
                idempotency_key=idempotency_key, source="app", ip_prefix=new["ip_prefix"],
                restricted=False, auto_checkout=False)
            target = _CHECK_IN_WRITE.run(session, {
                **lookup, **entry_values,
                **{f"fence_{f}": v for f, v in fence._asdict().items()},
            }, conn)
            if target is not None and target.written:
                return _created(session, conn, target, _new_entry(
                    target, verdict=verdict, coarse=coarse, **new))
            return _check_in_judged(session, conn, target, new, latitude, longitude,
                                    accuracy_m)
    target = _CHECK_IN_TARGET.run(session, lookup, conn)
    return _check_in_judged(session, conn, target, new, latitude, longitude, accuracy_m)


def _check_in_judged(session: Session, conn: Connection, target: Any, new: dict[str, Any],
                     latitude: float, longitude: float, accuracy_m: float | None) -> CheckIn:
    """The check-in's rules on the lookup's row, then the INSERT."""
    if target is None:
        raise NotFound("No such site.")
    account_id, idempotency_key = new["account_id"], new["idempotency_key"]
    if target.replayed_id is not None:
        return _replay(session.get_one(Entry, target.replayed_id), target.id)
    if target.ledger_id and not target.has_identity:
        raise Unprocessable(
            "This site keeps a personnel ledger: add your identity number first.",
            slug="identity-number-required",
        )
    verdict, coarse = _judge(_remember_fence(target), latitude, longitude, accuracy_m)
    if target.geofence == "enforce" and not verdict.inside:
        raise Unprocessable(
            f"You are outside the site's area: {verdict.distance_m} m from the site, which "
            f"takes check-ins within {target.radius_m} m. Move closer and try again.",
            slug="outside-geofence", distance_m=verdict.distance_m, radius_m=target.radius_m)
    entry = _new_entry(target, verdict=verdict, coarse=coarse, **new)
    # No pre-check for an open entry: the partial unique index is the rule, and asking first
    # would cost a query on every check-in and still race.
    if _insert_unless_taken(conn, entry._asdict()):
        return _created(session, conn, target, entry)
    return _who_was_first(session, account_id, idempotency_key, target.id)


# ------------------------------------------------- foremen, late and offline registrations

# A phone's clock may run a little ahead of ours: a claim this far in the future is "now".
CLOCK_SKEW = dt.timedelta(minutes=2)
# Roles that may register an entry for a colleague (the foreman, and the customer's admins).
REGISTER_FOR_OTHERS = (Role.FOREMAN, Role.ADMIN)


def check_in_registered(session: Session, *, actor_id: uuid.UUID, site_id: uuid.UUID,
                        latitude: float, longitude: float, accuracy_m: float | None = None,
                        idempotency_key: str, member_id: uuid.UUID | None = None,
                        occurred_at: dt.datetime | None = None,
                        ip: str | None = None) -> CheckIn:
    """A check-in the plain one (``check_in``) does not cover: for a colleague
    (``member_id``, by a foreman or admin of the site's customer) and/or at a claimed earlier
    time (``occurred_at``, a late or offline registration). The entry keeps the claimed time
    as ``checked_in_at``, the time it reached us as ``created_at`` (``registered_at``) and,
    for a colleague, who registered it (``registered_by_id``).

    A claim is refused (422), never stored for an admin to sort out later: in the future
    (``occurred-in-future``), before the person's membership began
    (``occurred-before-membership``), older than the site's ``late_registration_hours``
    (``occurred-too-old``), or inside another shift of the person at the site
    (``overlapping-shift``). An older shift is an admin's correction, which keeps its
    reason (docs/LEDGER.md says why refusing is the choice).

    The session must be scoped to the actor's current customers: any other customer's site,
    or a member of another customer, is NotFound. The ORM path, not the hot one: only these
    requests pay for it.
    """
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise ValidationFailed({"Idempotency-Key": ["Send 1 to 100 characters."]})
    now = clock.now()
    site = session.scalar(select(Site).where(Site.id == site_id))
    if site is None:
        raise NotFound("No such site.")
    actor_m = current_membership(session, actor_id, site.customer_id)
    if actor_m is None:
        raise NotFound("No such site.")
    target = actor_m
    if member_id is not None and member_id != actor_m.id:
        if actor_m.role not in REGISTER_FOR_OTHERS:
            raise Forbidden("Only a foreman or an admin registers entries for others.",
                            slug="role-required")
        found = session.scalar(select(Membership).where(
            Membership.id == member_id, Membership.customer_id == site.customer_id))
        if found is None or found.account_id is None:
            raise NotFound("No such member.")
        if current_membership(session, found.account_id, site.customer_id) is None:
            raise Unprocessable("That person is not an active member here.",
                                slug="member-not-active")
        target = found
    account_id = target.account_id
    assert account_id is not None
    replayed = _by_key(session, account_id, idempotency_key)
    if replayed is not None:
        return _replay(replayed, site.id)

    claimed = now if occurred_at is None else occurred_at.astimezone(dt.UTC)
    if claimed > now + CLOCK_SKEW:
        raise Unprocessable("The time given is in the future.", slug="occurred-in-future")
    claimed = min(claimed, now)
    # The membership began at its valid_from, or else when it was made.
    began = target.valid_from or target.created_at
    if occurred_at is not None and began is not None and claimed < began:
        raise Unprocessable("The time given is before the person's membership began.",
                            slug="occurred-before-membership")
    window = dt.timedelta(hours=site.late_registration_hours)
    if claimed < now - window:
        raise Unprocessable(
            f"Registrations later than {site.late_registration_hours} hours are made by an "
            "admin as a correction.", slug="occurred-too-old",
            late_registration_hours=site.late_registration_hours)
    if site.ledger_id:
        enc = session.scalar(select(Account.identity_number_enc).where(Account.id == account_id))
        if enc is None:
            raise Unprocessable(
                "This site keeps a personnel ledger: the person's identity number is needed "
                "first.", slug="identity-number-required")
    overlap = session.scalar(select(Entry.id).where(
        Entry.customer_id == site.customer_id, Entry.account_id == account_id,
        Entry.site_id == site.id, Entry.checked_in_at <= claimed,
        or_(Entry.checked_out_at.is_(None), Entry.checked_out_at > claimed),
    ).limit(1))
    if overlap is not None:
        other = open_entry(session, account_id, site.id)
        if other is not None and other.id == overlap:
            raise _already_in(other.id)
        raise Unprocessable("That time is inside another shift of the person here.",
                            slug="overlapping-shift")

    verdict = geo.check(site.latitude, site.longitude, site.radius_m, latitude, longitude,
                        accuracy_m)
    if site.geofence == "enforce" and not verdict.inside:
        raise Unprocessable("You are outside the site's area.", slug="outside-geofence",
                            distance_m=verdict.distance_m, radius_m=site.radius_m)
    coarse = geo.coarse(latitude, longitude) if site.store_coarse_position else (None, None)
    entry = Entry(
        id=uuid.uuid4(), created_at=now, customer_id=site.customer_id, site_id=site.id,
        account_id=account_id, membership_id=target.id, employer_name=target.employer_name,
        employer_org_nr=target.employer_org_nr, checked_in_at=claimed,
        inside_geofence=verdict.inside, distance_m=verdict.distance_m,
        coarse_latitude=coarse[0], coarse_longitude=coarse[1],
        idempotency_key=idempotency_key, source="app", ip_prefix=security.truncate_ip(ip),
        restricted=False, auto_checkout=False,
        registered_by_id=actor_id if target is not actor_m else None,
    )
    if not _insert_and_attach(session, entry):
        return _who_was_first(session, account_id, idempotency_key, site.id)
    if target is not actor_m:
        # A change to another person's data: the customer's trail says who made it.
        audit.record(session, action="entry.registered_for", customer_id=site.customer_id,
                     actor_id=actor_id, actor_role=actor_m.role, object_type="entry",
                     object_id=entry.id, subject_id=account_id)
    return CheckIn(entry, created=True)


# Built once, every column a parameter (one compiled form whatever the entry sets): each
# call only binds values.
_INSERT_UNLESS_TAKEN = {
    name: HotStatement(
        insert(Entry.__table__)
        .values({c.key: bindparam(c.key, type_=c.type) for c in _ENTRY_COLUMNS})
        .on_conflict_do_nothing()
    )
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def _insert_unless_taken(conn: Connection, values: dict[str, Any]) -> bool:
    """INSERT the entry ``values`` (every column) unless a unique index (the idempotency
    key, the one open entry per person and site) already holds a row like it; True when
    inserted.

    ``INSERT ... ON CONFLICT DO NOTHING`` relies on the same unique indexes as catching an
    IntegrityError in a SAVEPOINT would, but a conflict aborts nothing, so the happy path
    costs one statement instead of three (SAVEPOINT, INSERT, RELEASE). A concurrent insert of
    the same key waits for the first transaction and then does nothing; the caller re-reads.
    Committed with the request, like any other change (``conn`` is the session's).
    """
    try:
        return _INSERT_UNLESS_TAKEN[conn.dialect.name].rowcount(conn, values) == 1
    except IntegrityError:
        # Not a unique index (those do nothing): a foreign key. The membership, the account
        # or the site went away between the read and this insert, e.g. an erasure that froze
        # and erased the person meanwhile. A refusal, never a 500.
        raise Conflict("Your membership here ended while checking in (for example, your "
                       "account is being erased); nothing was recorded.",
                       slug="membership-ended") from None


def _insert_and_attach(session: Session, entry: Entry) -> bool:
    """``_insert_unless_taken`` for an ORM object, which then stands for the new row."""
    if entry.created_at is None:
        entry.created_at = clock.now()
    # Every column is given, so the Python-side defaults (id, source, restricted) must have
    # been set by the caller: the statement would otherwise store NULL, which the NOT NULL
    # constraints refuse.
    values = {c.key: entry.__dict__.get(c.key) for c in _ENTRY_COLUMNS}
    if not _insert_unless_taken(session.connection(), values):
        return False
    # The columns not set are NULL in the row: mark them loaded as such, or the first read
    # of one would SELECT the whole row back.
    for key, value in values.items():
        if value is None and key not in entry.__dict__:
            setattr(entry, key, None)
    # The row exists now: attach the object as that row (no second INSERT), so later changes
    # in this session (a check-out, a correction) are ordinary updates.
    make_transient_to_detached(entry)
    session.add(entry)
    return True


def _own_entry(session: Session, account_id: uuid.UUID, entry_id: uuid.UUID) -> Entry:
    entry = session.scalar(
        select(Entry).where(Entry.id == entry_id, Entry.account_id == account_id)
    )
    if entry is None:
        raise NotFound("No such entry.")
    return entry


def check_out(session: Session, *, account: Account, entry_id: uuid.UUID,
              latitude: float | None = None, longitude: float | None = None,
              accuracy_m: float | None = None) -> Entry:
    """Close the person's own shift. Someone else's entry: 404, like a missing one.

    Already closed: the entry as it is (a retried tap changes nothing). Leaving is never
    refused for the geofence; a position, when given, only records the verdict.
    """
    entry = _own_entry(session, account.id, entry_id)
    if entry.checked_out_at is not None:
        return entry
    if latitude is not None and longitude is not None:
        site = session.scalar(select(Site).where(Site.id == entry.site_id))
        if site is not None:
            entry.checkout_inside_geofence = geo.check(
                site.latitude, site.longitude, site.radius_m, latitude, longitude, accuracy_m
            ).inside
    entry.checked_out_at = max(clock.now(), entry.checked_in_at)
    session.flush()
    emit_checked_out(session, entry)
    return entry


def emit_created(session: Session, entry: Entry) -> None:
    """entry.created for an entry made outside the app's check-in (doors, kiosks, jobs)."""
    events.emit(session, entry.customer_id, "entry.created", {
        "id": entry.id, "site_id": entry.site_id, "member_id": entry.membership_id,
        "checked_in_at": entry.checked_in_at, "inside_geofence": entry.inside_geofence,
        "source": entry.source,
    })


def emit_checked_out(session: Session, entry: Entry) -> None:
    """entry.checked_out; also for check-outs made elsewhere (e.g. the automatic one)."""
    events.emit(session, entry.customer_id, "entry.checked_out", {
        "id": entry.id, "site_id": entry.site_id, "member_id": entry.membership_id,
        "checked_in_at": entry.checked_in_at, "checked_out_at": entry.checked_out_at,
        "source": entry.source,
    })


def record_passage(session: Session, *, account_id: uuid.UUID, site: Site, direction: str,
                   at: dt.datetime, source: str = "door") -> Entry | None:
    """A turnstile passage at ``site`` opens ("in") or closes ("out") the person's shift.

    Only sites with a personnel ledger keep shifts, and only for current (non-guest) members
    of the site's customer: otherwise None. Passing in twice keeps the first open shift;
    passing out without an open shift does nothing (None). The door has already decided to
    open, so nothing here refuses: the result is the ledger's view of it.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'in' or 'out', not {direction!r}")
    if at.tzinfo is None:
        raise ValueError("naive datetime given for a passage")
    if not site.ledger_id:
        return None
    current = open_entry(session, account_id, site.id)
    if direction == "out":
        if current is None:
            return None
        current.checked_out_at = max(at, current.checked_in_at)
        session.flush()
        emit_checked_out(session, current)
        return current
    if current is not None:
        return current
    membership = current_membership(session, account_id, site.customer_id)
    if membership is None:
        return None
    entry = Entry(
        id=uuid.uuid4(), customer_id=site.customer_id, site_id=site.id, account_id=account_id,
        membership_id=membership.id, employer_name=membership.employer_name,
        employer_org_nr=membership.employer_org_nr, checked_in_at=at, source=source,
        restricted=False, auto_checkout=False,
    )
    if _insert_and_attach(session, entry):
        emit_created(session, entry)
        return entry
    # Two readers at once: the other passage opened the shift.
    won = open_entry(session, account_id, site.id)
    if won is None:
        raise Conflict("The passage conflicts with existing data.", slug="constraint-violation")
    return won


# ------------------------------------------------------------------------ corrections

def load_for_correction(session: Session, customer_id: uuid.UUID,
                        entry_id: uuid.UUID) -> Entry:
    """The customer's entry, locked (PostgreSQL) so two corrections line up one after other."""
    return load_owned(session, Entry, customer_id, entry_id, "entry", for_update=True)


def correct(session: Session, *, entry: Entry, actor_id: uuid.UUID | None,
            changes: dict[str, dt.datetime], reason: str) -> EntryCorrection:
    """Change an entry's times, keeping before and after, who, when and why (append-only).

    ``changes`` holds ``checked_in_at`` and/or ``checked_out_at``. Closing an open shift is
    a correction that sets ``checked_out_at``; reopening one is not possible.
    """
    unknown = set(changes) - {"checked_in_at", "checked_out_at"}
    if unknown:
        raise ValidationFailed({k: ["Unknown field."] for k in unknown})
    if not changes:
        raise ValidationFailed({"checked_in_at": ["Give checked_in_at, checked_out_at or both."]})
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise ValidationFailed({"reason": [f"Give a reason of 1 to {MAX_REASON} characters."]})
    for key, value in changes.items():
        if value is None or value.tzinfo is None:
            raise ValidationFailed({key: ["Give a time with a time zone."]})
    new_in = changes.get("checked_in_at", entry.checked_in_at).astimezone(dt.UTC)
    new_out = changes.get("checked_out_at", entry.checked_out_at)
    new_out = new_out.astimezone(dt.UTC) if new_out is not None else None
    now = clock.now()
    if new_in > now or (new_out is not None and new_out > now):
        raise Unprocessable("A shift cannot be corrected into the future.",
                            slug="time-in-future")
    if new_out is not None and new_out < new_in:
        raise Unprocessable("Check-out must not be before check-in.",
                            slug="checkout-before-checkin")
    if new_in == entry.checked_in_at and new_out == entry.checked_out_at:
        raise Unprocessable("The correction changes nothing.", slug="no-change")
    if entry.account_id is not None:
        overlaps = [
            Entry.customer_id == entry.customer_id,
            Entry.account_id == entry.account_id,
            Entry.site_id == entry.site_id,
            Entry.id != entry.id,
            or_(Entry.checked_out_at.is_(None), Entry.checked_out_at > new_in),
        ]
        if new_out is not None:
            overlaps.append(Entry.checked_in_at < new_out)
        overlap = session.scalar(select(Entry.id).where(*overlaps).limit(1))
        if overlap is not None:
            raise Unprocessable("The corrected shift overlaps another shift of this person "
                                "at this site.", slug="overlapping-shift")
    # The entry row is locked (load_for_correction), so max + 1 cannot race; the unique index
    # (entry_id, seq) would refuse it if it did.
    last = session.scalar(
        select(func.max(EntryCorrection.seq)).where(EntryCorrection.entry_id == entry.id)
    )
    correction = EntryCorrection(
        id=uuid.uuid4(),
        seq=(last or 0) + 1,
        customer_id=entry.customer_id,
        entry_id=entry.id,
        corrected_by_id=actor_id,
        before_checked_in_at=entry.checked_in_at,
        before_checked_out_at=entry.checked_out_at,
        after_checked_in_at=new_in,
        after_checked_out_at=new_out,
        reason=reason,
        created_at=now,
    )
    entry.checked_in_at = new_in
    entry.checked_out_at = new_out
    session.add(correction)
    session.flush()
    audit.record(session, action="entry.corrected", customer_id=entry.customer_id,
                 actor_id=actor_id, actor_role="admin" if actor_id else None,
                 object_type="entry", object_id=entry.id, subject_id=entry.account_id)
    return correction


def corrections_of(session: Session, entry: Entry) -> list[EntryCorrection]:
    return list(session.scalars(
        select(EntryCorrection)
        .where(EntryCorrection.entry_id == entry.id,
               EntryCorrection.customer_id == entry.customer_id)
        .order_by(EntryCorrection.seq)
    ))


# ---------------------------------------------------------------------------- lists

def customer_entries(customer_id: uuid.UUID, *, site_id: uuid.UUID | None = None,
                     start: dt.datetime | None = None, end: dt.datetime | None = None,
                     account_id: uuid.UUID | None = None, member_id: uuid.UUID | None = None,
                     open_only: bool = False) -> Select[Any]:
    """The admin's list: the customer's entries by check-in time, restricted rows left out
    (restriction means "personnel ledger use only"). The caller has checked access to
    ``customer_id`` (api.access.require_customer)."""
    stmt = select(Entry).where(Entry.customer_id == customer_id, Entry.restricted.is_(False))
    stmt = stmt.execution_options(**CUSTOMER_ROWS_ONLY)
    if site_id is not None:
        stmt = stmt.where(Entry.site_id == site_id)
    if start is not None:
        stmt = stmt.where(Entry.checked_in_at >= start)
    if end is not None:
        stmt = stmt.where(Entry.checked_in_at < end)
    if account_id is not None:
        stmt = stmt.where(Entry.account_id == account_id)
    if member_id is not None:
        stmt = stmt.where(Entry.membership_id == member_id)
    if open_only:
        stmt = stmt.where(Entry.checked_out_at.is_(None))
    return stmt


def own_entries(account_id: uuid.UUID) -> Select[Any]:
    return select(Entry).where(Entry.account_id == account_id)


def corrected_ids(session: Session, entry_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    if not entry_ids:
        return set()
    return set(session.scalars(
        select(EntryCorrection.entry_id).where(EntryCorrection.entry_id.in_(entry_ids))
        .distinct()
    ))


# --------------------------------------------------------------------------- ledger

@dataclasses.dataclass(frozen=True)
class LedgerRow:
    entry_id: uuid.UUID
    account_id: uuid.UUID | None
    first_name: str | None
    last_name: str | None
    identity_number: str | None
    employer_name: str | None
    employer_org_nr: str | None
    checked_in_at: dt.datetime
    checked_out_at: dt.datetime | None
    ledger_id: str | None
    corrected: bool
    original_checked_in_at: dt.datetime | None
    original_checked_out_at: dt.datetime | None
    # When the entry reached the system (checked_in_at is the time claimed), who registered
    # it for the person (a foreman; None: the person or a device), how (app, door, kiosk,
    # admin), and whether the automatic check-out closed it.
    registered_at: dt.datetime | None = None
    registered_by_id: uuid.UUID | None = None
    source: str | None = None
    auto_checkout: bool = False


def _ledger_filter(site: Site, start: dt.datetime, end: dt.datetime,
                   employer_org_nr: str | None = None) -> list[Any]:
    # One row per shift that began in [start, end): the index (customer_id, site_id,
    # checked_in_at) serves it. ``employer_org_nr``: one contractor's shifts only.
    clauses = [
        Entry.customer_id == site.customer_id,
        Entry.site_id == site.id,
        Entry.checked_in_at >= start,
        Entry.checked_in_at < end,
    ]
    if employer_org_nr is not None:
        clauses.append(Entry.employer_org_nr == employer_org_nr)
    return clauses


def record_ledger_read(session: Session, site: Site, start: dt.datetime, end: dt.datetime,
                       *, by: Membership) -> None:
    """The ledger shows identity numbers in clear: the read, and every person's number read,
    go to the customer's audit trail."""
    audit.record(session, action="entries.read", customer_id=site.customer_id,
                 actor_id=by.account_id, actor_role=by.role, object_type="ledger",
                 object_id=site.id)
    audit.record_many(session, action="identity_number.read", customer_id=site.customer_id,
                      subject_ids=ledger_subjects(session, site, start, end),
                      actor_id=by.account_id, actor_role=by.role, object_type="ledger",
                      object_id=site.id)


def ledger_employers(session: Session, site: Site, start: dt.datetime, end: dt.datetime, *,
                     employer_org_nr: str | None = None) -> list[tuple[str | None, str | None]]:
    """(org nr, a name) of each employer on the ledger for this period, one query."""
    return [(r[0], r[1]) for r in session.execute(
        select(Entry.employer_org_nr, func.max(Entry.employer_name))
        .where(*_ledger_filter(site, start, end, employer_org_nr))
        .group_by(Entry.employer_org_nr))]


def ledger_subjects(session: Session, site: Site, start: dt.datetime,
                    end: dt.datetime, *, employer_org_nr: str | None = None
                    ) -> list[uuid.UUID]:
    """The people whose identity number the ledger for this period shows in clear."""
    return list(session.scalars(
        select(Account.id).where(
            Account.identity_number_enc.is_not(None),
            exists().where(Entry.account_id == Account.id,
                           *_ledger_filter(site, start, end, employer_org_nr)),
        ).order_by(Account.id)
    ))


def ledger_rows(session: Session, site: Site, start: dt.datetime, end: dt.datetime, *,
                batch: int = 1000, employer_org_nr: str | None = None
                ) -> Iterator[LedgerRow]:
    """The ledger, oldest shift first, read in batches (a server-side cursor on PostgreSQL)
    so a year of a large site streams in constant memory. Identity numbers come out in
    clear: the caller audits the read (``ledger_subjects``) before iterating."""
    first = (
        select(EntryCorrection)
        .where(EntryCorrection.entry_id == Entry.id, EntryCorrection.seq == 1)
    )
    orig_in = (
        first.with_only_columns(EntryCorrection.before_checked_in_at)
        .scalar_subquery().label("orig_in")
    )
    orig_out = (
        first.with_only_columns(EntryCorrection.before_checked_out_at)
        .scalar_subquery().label("orig_out")
    )
    stmt = (
        select(
            Entry.id, Entry.account_id, Account.first_name, Account.last_name,
            Account.identity_number_enc, Entry.employer_name, Entry.employer_org_nr,
            Entry.checked_in_at, Entry.checked_out_at, orig_in, orig_out,
            Entry.created_at, Entry.registered_by_id, Entry.source, Entry.auto_checkout,
        )
        .outerjoin(Account, Account.id == Entry.account_id)
        .where(and_(*_ledger_filter(site, start, end, employer_org_nr)))
        .order_by(Entry.checked_in_at, Entry.id)
        .execution_options(yield_per=batch)
    )
    for r in session.execute(stmt):
        corrected = r.orig_in is not None
        yield LedgerRow(
            entry_id=r.id,
            account_id=r.account_id,
            first_name=r.first_name,
            last_name=r.last_name,
            identity_number=identity.reveal(r.account_id, r.identity_number_enc),
            employer_name=r.employer_name,
            employer_org_nr=r.employer_org_nr,
            checked_in_at=r.checked_in_at,
            checked_out_at=r.checked_out_at,
            ledger_id=site.ledger_id,
            corrected=corrected,
            original_checked_in_at=r.orig_in if corrected else None,
            original_checked_out_at=r.orig_out if corrected else None,
            registered_at=r.created_at,
            registered_by_id=r.registered_by_id,
            source=r.source,
            auto_checkout=r.auto_checkout,
        )
