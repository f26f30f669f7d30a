"""Admin lists carry names beside ids (entries: person_name, site_name; access events:
person_name, door_name), read with a fixed number of queries whatever the page size."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import event

from entryfy.ops import doors as door_ops
from models import AccessEvent
from tests.attendance import entry
from tests.factories import bearer

T0 = dt.datetime(2026, 11, 2, 6, 30, tzinfo=dt.UTC)


def _shifts(session, make, world, n: int) -> None:
    for i in range(n):
        person = make.account()
        make.membership(world.a.customer, person)
        entry(session, world.a.site, person, checked_in_at=T0 + dt.timedelta(minutes=i),
              checked_out_at=T0 + dt.timedelta(hours=8))


def _events(session, world, door, n: int) -> None:
    for i in range(n):
        session.add(AccessEvent(id=uuid.uuid4(), customer_id=world.a.customer.id,
                                door_id=door.id, account_id=world.a.worker.id,
                                membership_id=world.a.worker_membership.id, method="app",
                                outcome="granted", source="app",
                                occurred_at=T0 + dt.timedelta(minutes=i), recorded_at=T0))
    session.commit()


class Counter:
    def __init__(self, engine) -> None:
        self.n, self.engine = 0, engine

    def __enter__(self) -> Counter:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, *args: object) -> None:
        self.n += 1


def test_entries_carry_person_and_site_names(client, session, world):
    entry(session, world.a.site, world.a.worker, checked_in_at=T0)
    entry(session, world.a.site, None, checked_in_at=T0 - dt.timedelta(days=1),
          checked_out_at=T0 - dt.timedelta(hours=20))  # an erased person's shift
    body = client.get(f"/api/v1/customers/{world.a.customer.id}/entries",
                      headers=bearer(client, world.a.admin)).get_json()
    first, second = body["items"]
    assert first["person_name"] == f"{world.a.worker.first_name} {world.a.worker.last_name}"
    assert first["site_name"] == world.a.site.name
    assert second["person_name"] is None and second["site_name"] == world.a.site.name


def test_one_entry_carries_names_too(client, session, world):
    e = entry(session, world.a.site, world.a.worker, checked_in_at=T0)
    body = client.get(f"/api/v1/customers/{world.a.customer.id}/entries/{e.id}",
                      headers=bearer(client, world.a.admin)).get_json()
    assert body["person_name"] == f"{world.a.worker.first_name} {world.a.worker.last_name}"
    assert body["site_name"] == world.a.site.name


def test_access_events_carry_person_and_door_names(client, session, world):
    door = door_ops.create_door(session, site=world.a.site, name="Port B")
    session.commit()
    _events(session, world, door, 1)
    body = client.get(f"/api/v1/customers/{world.a.customer.id}/access-events",
                      headers=bearer(client, world.a.admin)).get_json()
    (ev,) = body["items"]
    assert ev["person_name"] == f"{world.a.worker.first_name} {world.a.worker.last_name}"
    assert ev["door_name"] == "Port B"


def test_no_query_per_row(app, client, session, make, world, database):
    """The number of statements for a page of 2 and a page of 20 is the same."""
    admin = bearer(client, world.a.admin)
    url = f"/api/v1/customers/{world.a.customer.id}/entries?limit="
    _shifts(session, make, world, 20)
    client.get(url + "1", headers=admin)  # the token's first use writes once; not counted
    with Counter(database.engine) as small:
        assert len(client.get(url + "2", headers=admin).get_json()["items"]) == 2
    with Counter(database.engine) as big:
        assert len(client.get(url + "20", headers=admin).get_json()["items"]) == 20
    assert big.n == small.n

    door = door_ops.create_door(session, site=world.a.site, name="Port C")
    session.commit()
    _events(session, world, door, 20)
    url = f"/api/v1/customers/{world.a.customer.id}/access-events?limit="
    with Counter(database.engine) as small:
        client.get(url + "2", headers=admin)
    with Counter(database.engine) as big:
        assert len(client.get(url + "20", headers=admin).get_json()["items"]) == 20
    assert big.n == small.n
