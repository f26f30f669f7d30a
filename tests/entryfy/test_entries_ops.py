"""entryfy.ops.entries without HTTP: check-in rules, check-out, passages, corrections, ledger."""

from __future__ import annotations

import datetime as dt

import pytest
from geopy.distance import geodesic

from entryfy import clock
from entryfy.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from entryfy.ops import entries as ops
from models import Entry
from tests.attendance import corrections_of, entries_of, entry, give_identity_number

T0 = dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.UTC)


def away(site, metres: float) -> tuple[float, float]:
    p = geodesic(meters=metres).destination((site.latitude, site.longitude), 0)
    return p.latitude, p.longitude


@pytest.fixture
def worker(session, world):
    give_identity_number(session, world.a.worker)
    return world.a.worker


def check_in(session, account, site, key="k-1", where=None, **kw):
    lat, lon = where or (site.latitude, site.longitude)
    return ops.check_in(session, account_id=account.id, site_id=site.id, latitude=lat,
                        longitude=lon, idempotency_key=key, **kw)


def test_check_in_keeps_the_verdict_not_the_position(session, world, worker):
    site = world.a.site
    lat, lon = away(site, 120.4)
    with clock.frozen_at(T0):
        r = check_in(session, worker, site, where=(lat, lon), ip="192.0.2.77")
    e = r.entry
    assert r.created and e.checked_in_at == T0 and e.checked_out_at is None
    assert e.inside_geofence is True and e.distance_m == 120
    assert e.coarse_latitude is None and e.coarse_longitude is None
    assert e.ip_prefix == "192.0.2.0/24"
    assert (e.employer_name, e.employer_org_nr) == ("Sub AB", "559012-3450")
    assert e.membership_id == world.a.worker_membership.id
    assert e.customer_id == site.customer_id and e.source == "app"
    row = session.get(Entry, e.id)
    stored = {c.key: getattr(row, c.key) for c in Entry.__table__.columns}
    assert lat not in stored.values() and lon not in stored.values()


def test_coarse_position_only_when_the_site_asks(session, world, worker):
    site = world.a.site
    site.store_coarse_position = True
    session.commit()
    e = check_in(session, worker, site, where=(59.33012, 18.06034)).entry
    assert (e.coarse_latitude, e.coarse_longitude) == (59.33, 18.06)


def test_enforcing_geofence_refuses_with_the_distance(session, world, worker):
    with pytest.raises(Unprocessable) as err:
        check_in(session, worker, world.a.site, where=away(world.a.site, 450))
    assert err.value.slug == "outside-geofence"
    assert err.value.extra["distance_m"] == 450
    assert entries_of(session, worker) == 0


def test_recording_geofence_accepts_and_flags(session, world, worker):
    world.a.site.geofence = "record"
    session.commit()
    e = check_in(session, worker, world.a.site, where=away(world.a.site, 450)).entry
    assert e.inside_geofence is False and e.distance_m == 450


def test_accuracy_moves_the_edge(session, world, worker):
    site = world.a.site  # radius 200
    assert check_in(session, worker, site, where=away(site, 230), accuracy_m=40).entry


@pytest.mark.parametrize("change", [
    {"active": False},
    {"role": "guest"},
    {"valid_to": T0 - dt.timedelta(days=1)},
    {"valid_from": T0 + dt.timedelta(days=1)},
])
def test_only_current_members_check_in(session, world, worker, change):
    for k, v in change.items():
        setattr(world.a.worker_membership, k, v)
    session.commit()
    with clock.frozen_at(T0), pytest.raises(NotFound):
        check_in(session, worker, world.a.site)


def test_not_a_member_of_the_sites_customer(session, world, worker):
    with pytest.raises(NotFound):
        check_in(session, worker, world.b.site)


def test_identity_number_required_where_a_ledger_is_kept(session, world):
    person = world.a.worker  # no identity number yet
    with pytest.raises(Unprocessable) as err:
        check_in(session, person, world.a.site)
    assert err.value.slug == "identity-number-required"
    world.a.site.ledger_id = None
    session.commit()
    assert check_in(session, person, world.a.site).created


def test_same_key_same_entry(session, world, worker):
    first = check_in(session, worker, world.a.site, key="tap-1")
    again = check_in(session, worker, world.a.site, key="tap-1", where=away(world.a.site, 900))
    assert again.entry.id == first.entry.id and not again.created
    assert entries_of(session, worker) == 1


def test_same_key_for_another_site_is_a_conflict(session, make, world, worker):
    other = make.site(world.a.customer)
    check_in(session, worker, world.a.site, key="tap-1")
    with pytest.raises(Conflict) as err:
        check_in(session, worker, other, key="tap-1")
    assert err.value.slug == "idempotency-key-reused"


def test_one_open_entry_per_person_and_site(session, world, worker):
    first = check_in(session, worker, world.a.site, key="a").entry
    with pytest.raises(Conflict) as err:
        check_in(session, worker, world.a.site, key="b")
    assert err.value.slug == "already-checked-in"
    assert err.value.extra["entry_id"] == str(first.id)
    # The refused insert was only a savepoint: the transaction and the first entry live on.
    assert entries_of(session, worker) == 1
    ops.check_out(session, account=worker, entry_id=first.id)
    assert check_in(session, worker, world.a.site, key="b").created


def test_bad_keys(session, world, worker):
    for bad in ("", "x" * 101):
        with pytest.raises(ValidationFailed):
            check_in(session, worker, world.a.site, key=bad)


def test_check_out_own_entry_only(session, world, worker):
    with clock.frozen_at(T0):
        e = check_in(session, worker, world.a.site).entry
    with pytest.raises(NotFound):
        ops.check_out(session, account=world.a.admin, entry_id=e.id)
    later = T0 + dt.timedelta(hours=8)
    with clock.frozen_at(later):
        out = ops.check_out(session, account=worker, entry_id=e.id,
                            latitude=world.a.site.latitude + 0.01,
                            longitude=world.a.site.longitude)
    assert out.checked_out_at == later and out.checkout_inside_geofence is False
    with clock.frozen_at(later + dt.timedelta(hours=1)):
        again = ops.check_out(session, account=worker, entry_id=e.id)
    assert again.checked_out_at == later  # a retried tap changes nothing


def test_passages_open_and_close_the_shift(session, world):
    site, person = world.a.site, world.a.worker
    e = ops.record_passage(session, account_id=person.id, site=site, direction="in", at=T0)
    assert e is not None and e.source == "door" and e.checked_in_at == T0
    assert e.employer_name == "Sub AB"
    same = ops.record_passage(session, account_id=person.id, site=site, direction="in",
                              at=T0 + dt.timedelta(minutes=5))
    assert same.id == e.id and same.checked_in_at == T0
    out = ops.record_passage(session, account_id=person.id, site=site, direction="out",
                             at=T0 + dt.timedelta(hours=9))
    assert out.id == e.id and out.checked_out_at == T0 + dt.timedelta(hours=9)
    assert ops.record_passage(session, account_id=person.id, site=site, direction="out",
                              at=T0 + dt.timedelta(hours=10)) is None


def test_passages_where_no_shift_is_kept(session, make, world):
    no_ledger = make.site(world.a.customer, ledger_id=None)
    assert ops.record_passage(session, account_id=world.a.worker.id, site=no_ledger,
                              direction="in", at=T0) is None
    stranger = make.account()
    assert ops.record_passage(session, account_id=stranger.id, site=world.a.site,
                              direction="in", at=T0) is None
    with pytest.raises(ValueError):
        ops.record_passage(session, account_id=world.a.worker.id, site=world.a.site,
                           direction="sideways", at=T0)
    with pytest.raises(ValueError):
        ops.record_passage(session, account_id=world.a.worker.id, site=world.a.site,
                           direction="in", at=T0.replace(tzinfo=None))
    assert entries_of(session, world.a.worker) == 0
    assert entries_of(session, stranger) == 0


def test_correction_history(session, world):
    site, person, admin = world.a.site, world.a.worker, world.a.admin
    e = entry(session, site, person, checked_in_at=T0)
    with clock.frozen_at(T0 + dt.timedelta(hours=10)):
        c1 = ops.correct(session, entry=e, actor_id=admin.id, reason="Forgot to check out",
                         changes={"checked_out_at": T0 + dt.timedelta(hours=8)})
        c2 = ops.correct(session, entry=e, actor_id=admin.id, reason="Came in earlier",
                         changes={"checked_in_at": T0 - dt.timedelta(hours=1)})
    assert (c1.before_checked_in_at, c1.before_checked_out_at) == (T0, None)
    assert c1.after_checked_out_at == T0 + dt.timedelta(hours=8)
    assert c2.before_checked_out_at == T0 + dt.timedelta(hours=8)
    assert e.checked_in_at == T0 - dt.timedelta(hours=1)
    assert [c.id for c in ops.corrections_of(session, e)] == [c1.id, c2.id]
    assert corrections_of(session, e.id) == 2


@pytest.mark.parametrize("changes,slug", [
    ({"checked_out_at": T0 - dt.timedelta(minutes=1)}, "checkout-before-checkin"),
    ({"checked_in_at": T0 + dt.timedelta(days=30)}, "time-in-future"),
    ({"checked_in_at": T0}, "no-change"),
    ({"checked_in_at": T0 - dt.timedelta(hours=20)}, "overlapping-shift"),
])
def test_refused_corrections_change_nothing(session, world, changes, slug):
    site, person = world.a.site, world.a.worker
    entry(session, site, person, checked_in_at=T0 - dt.timedelta(days=1),
          checked_out_at=T0 - dt.timedelta(hours=16))
    e = entry(session, site, person, checked_in_at=T0, checked_out_at=T0 + dt.timedelta(hours=8))
    with clock.frozen_at(T0 + dt.timedelta(days=1)), pytest.raises(Unprocessable) as err:
        ops.correct(session, entry=e, actor_id=world.a.admin.id, changes=changes, reason="r")
    assert err.value.slug == slug
    assert e.checked_in_at == T0 and corrections_of(session, e.id) == 0


def test_correction_needs_a_reason_and_a_change(session, world):
    e = entry(session, world.a.site, world.a.worker, checked_in_at=T0)
    with pytest.raises(ValidationFailed):
        ops.correct(session, entry=e, actor_id=None, changes={}, reason="why")
    with pytest.raises(ValidationFailed):
        ops.correct(session, entry=e, actor_id=None, reason="   ",
                    changes={"checked_out_at": T0 + dt.timedelta(hours=1)})


def test_ledger_rows_show_corrections_and_numbers(session, world):
    site, person = world.a.site, world.a.worker
    number = give_identity_number(session, person)
    plain = entry(session, site, person, checked_in_at=T0 - dt.timedelta(days=1),
                  checked_out_at=T0 - dt.timedelta(hours=16), employer_name="Sub AB")
    fixed = entry(session, site, person, checked_in_at=T0)
    entry(session, site, None, checked_in_at=T0 + dt.timedelta(hours=1))  # anonymised
    entry(session, world.b.site, world.b.worker, checked_in_at=T0)  # another customer
    with clock.frozen_at(T0 + dt.timedelta(hours=12)):
        ops.correct(session, entry=fixed, actor_id=world.a.admin.id, reason="closed",
                    changes={"checked_out_at": T0 + dt.timedelta(hours=8)})
    rows = list(ops.ledger_rows(session, site, T0 - dt.timedelta(days=2), T0 + dt.timedelta(days=1),
                                batch=2))
    assert [r.entry_id for r in rows][:2] == [plain.id, fixed.id] and len(rows) == 3
    assert rows[0].identity_number == number and not rows[0].corrected
    assert rows[0].original_checked_in_at is None
    assert rows[1].corrected and rows[1].original_checked_out_at is None
    assert rows[1].original_checked_in_at == T0
    assert rows[1].checked_out_at == T0 + dt.timedelta(hours=8)
    assert rows[2].account_id is None and rows[2].identity_number is None
    assert all(r.ledger_id == site.ledger_id for r in rows)
    assert ops.ledger_subjects(session, site, T0 - dt.timedelta(days=2), T0) == [person.id]


@pytest.mark.postgres_only
def test_two_turnstiles_at_once_open_one_shift(committed, backend, make):
    """Two passages 'in' racing on PostgreSQL: one shift, both callers get it."""
    import threading

    from models.tenancy import SYSTEM, set_context

    if backend.name != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL")
    t = make.tenant()
    barrier = threading.Barrier(4)
    got: list[object] = []

    def passage() -> None:
        s = committed.session()
        set_context(s, SYSTEM)
        site = s.get(type(t.site), t.site.id)
        barrier.wait()
        e = ops.record_passage(s, account_id=t.worker.id, site=site, direction="in", at=T0)
        s.commit()
        got.append(e.id)
        s.close()

    threads = [threading.Thread(target=passage) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(got) == 4 and len(set(got)) == 1
    s = committed.session()
    set_context(s, SYSTEM)
    assert entries_of(s, t.worker) == 1
    s.close()
