"""Accesses in the console: give, change (doors, members, methods, validity, the weekly
schedule) and remove one, through the same operations and audit records as the API, on the
same tenant wall."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import select

from models import Access, AuditEvent
from tests.console.helpers import console_login, post_form, token


@pytest.fixture()
def doors(session, world):  # type: ignore[no-untyped-def]
    from entryfy.ops import doors as door_ops

    pair = (door_ops.create_door(session, site=world.a.site, name="Huvudentré"),
            door_ops.create_door(session, site=world.a.site, name="Grind 2"))
    session.commit()
    return pair


@pytest.fixture()
def access_id(session, world, doors):  # type: ignore[no-untyped-def]
    from entryfy.ops import doors as door_ops

    a = door_ops.create_access(session, customer_id=world.a.customer.id, name="Dagtid",
                               door_ids=[doors[0].id],
                               member_ids=[world.a.worker_membership.id], methods=["app"],
                               schedule=[{"days": ["mon"], "start": "07:00", "end": "17:00"}])
    session.commit()
    return a.id  # an id: the tests reload the row on the shared connection


def _audit(session, action: str, access_id: uuid.UUID) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                         AuditEvent.object_id == str(access_id))))


def test_give_an_access_with_validity_is_audited_with_the_admin(client, session, world, doors):
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/accesses"
    r = post_form(client, url, name="Vinter", door_ids=str(doors[1].id),
                  member_ids=str(world.a.worker_membership.id), methods=["qr", "app_pin"],
                  valid_from="2026-12-01T07:00", valid_to="2027-02-28T18:00")
    assert r.status_code == 302, r.get_data(as_text=True)
    a = session.scalar(select(Access).where(Access.name == "Vinter"))
    assert a.methods == ["app_pin", "qr"]  # the operation's order
    # Typed in Stockholm time (CET, UTC+1), stored in UTC.
    assert a.valid_from.replace(tzinfo=dt.UTC) == dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)
    assert a.valid_to.replace(tzinfo=dt.UTC) == dt.datetime(2027, 2, 28, 17, 0, tzinfo=dt.UTC)
    (ev,) = _audit(session, "access.create", a.id)
    assert (ev.actor_id, ev.actor_role) == (world.a.admin.id, "admin")
    listing = client.get(url, headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert "Vinter" in listing and f"/accesses/{a.id}" in listing
    # Site time, Swedish format, an en dash between.
    assert "2026-12-01 07:00\u20132027-02-28 18:00" in listing


def test_edit_page_shows_the_access_as_it_is(client, world, access_id, doors):
    console_login(client, world.a.admin.email)
    page = client.get(f"/console/c/{world.a.customer.id}/accesses/{access_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="name" type="text" value="Dagtid"' in html
    assert f'value="{doors[0].id}" checked' in html
    assert f'value="{doors[1].id}" checked' not in html
    assert f'value="{world.a.worker_membership.id}" selected' in html
    assert 'name="w0_mon" value="1" checked' in html
    assert 'name="w0_tue" value="1" checked' not in html
    assert 'name="w0_start" value="07:00"' in html and 'name="w0_end" value="17:00"' in html
    assert 'value="app" checked> App</label>' in html and "> App + PIN</label>" in html
    sv = client.get(f"/console/c/{world.a.customer.id}/accesses/{access_id}",
                    headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert "> Passerkort</label>" in sv and "Ändra behörigheten" in sv


def test_change_doors_members_methods_validity_and_schedule(client, session, world, access_id,
                                                            doors):
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/accesses/{access_id}"
    r = post_form(client, url, name="Kvällstid", door_ids=[str(doors[0].id), str(doors[1].id)],
                  member_ids=str(world.a.admin_membership.id), methods=["pin", "keycard"],
                  valid_from="", valid_to="2027-06-30T16:00",
                  w0_sat="1", w0_sun="1", w0_start="22:00", w0_end="06:00",
                  w1_fri="1", w1_start="18:00", w1_end="23:00")
    assert r.status_code == 302, r.get_data(as_text=True)
    assert r.headers["Location"].endswith(f"/accesses/{access_id}?saved=1")
    session.expire_all()
    a = session.get(Access, access_id)
    assert a.name == "Kvällstid"
    assert {d.door_id for d in a.doors} == {doors[0].id, doors[1].id}
    assert [m.membership_id for m in a.members] == [world.a.admin_membership.id]
    assert a.methods == ["pin", "keycard"]
    assert a.valid_from is None
    assert a.valid_to.replace(tzinfo=dt.UTC) == dt.datetime(2027, 6, 30, 14, 0, tzinfo=dt.UTC)
    assert a.schedule == [{"days": ["sat", "sun"], "start": "22:00", "end": "06:00"},
                          {"days": ["fri"], "start": "18:00", "end": "23:00"}]
    # The operation's audit records, with the admin as actor: the change, one person added
    # and one removed.
    (ev,) = _audit(session, "access.update", access_id)
    assert ev.actor_id == world.a.admin.id
    (added,) = _audit(session, "access.member_added", access_id)[-1:]
    assert added.subject_id == world.a.admin.id
    (removed,) = _audit(session, "access.member_removed", access_id)
    assert removed.subject_id == world.a.worker.id


def test_clearing_the_schedule_means_any_time(client, session, world, access_id, doors):
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/accesses/{access_id}"
    r = post_form(client, url, name="Dagtid", door_ids=str(doors[0].id),
                  member_ids=str(world.a.worker_membership.id), methods="app")
    assert r.status_code == 302
    session.expire_all()
    assert session.get(Access, access_id).schedule is None


@pytest.mark.parametrize("fields,status,says", [
    ({"w0_mon": "1", "w0_start": "25:00", "w0_end": "17:00"}, 400, "schedule"),
    ({"valid_from": "2027-01-02T08:00", "valid_to": "2027-01-01T08:00"}, 400, "valid_to"),
    ({"valid_from": "tomorrow"}, 400, "time"),
    ({"methods": "teleport"}, 400, "methods"),
    ({"door_ids": "not-a-uuid"}, 400, "door_ids"),
    ({"door_ids": ""}, 400, "door_ids"),
    ({"name": " "}, 400, "name"),
    ({"name": "Två\nrader"}, 400, "name"),
])
def test_a_bad_change_is_refused_on_the_form_and_changes_nothing(client, session, world, access_id,
                                                                 doors, fields, status, says):
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/accesses/{access_id}"
    data = {"name": "Ändrad", "door_ids": str(doors[0].id), "methods": "app", **fields}
    r = post_form(client, url, **data)
    assert r.status_code == status
    html = r.get_data(as_text=True)
    assert 'role="alert"' in html and says in html
    if data["name"] == "Ändrad":
        assert 'value="Ändrad"' in html  # the refused input is shown again, not lost
    session.expire_all()
    a = session.get(Access, access_id)
    assert a.name == "Dagtid" and a.schedule == [{"days": ["mon"], "start": "07:00",
                                                  "end": "17:00"}]
    assert _audit(session, "access.update", access_id) == []


def test_another_customers_door_or_member_is_404_on_the_form(client, session, world, access_id,
                                                             doors):
    from entryfy.ops import doors as door_ops

    b_door = door_ops.create_door(session, site=world.b.site, name="B:s dörr")
    session.commit()
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/accesses/{access_id}"
    r = post_form(client, url, name="X", door_ids=str(b_door.id), methods="app")
    assert r.status_code == 404
    r = post_form(client, url, name="X", door_ids=str(doors[0].id), methods="app",
                  member_ids=str(world.b.worker_membership.id))
    assert r.status_code == 404
    session.expire_all()
    assert session.get(Access, access_id).name == "Dagtid"


def test_remove_an_access_after_the_confirm_step(client, session, world, access_id):
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/accesses/{access_id}/delete"
    confirm = client.get(url)
    assert confirm.status_code == 200
    html = confirm.get_data(as_text=True)
    assert "Dagtid" in html and "Huvudentré" in html and 'method="post"' in html
    session.expire_all()
    assert session.get(Access, access_id) is not None  # the GET removed nothing
    r = client.post(url, data={"csrf_token": token(html)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/accesses?removed=1")
    session.expire_all()
    assert session.get(Access, access_id) is None
    (ev,) = _audit(session, "access.delete", access_id)
    assert (ev.actor_id, ev.actor_role) == (world.a.admin.id, "admin")


def test_remove_without_the_csrf_token_is_refused(client, session, world, access_id):
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/accesses/{access_id}/delete"
    assert client.post(url).status_code == 403
    assert client.post(url, data={"csrf_token": "0" * 64}).status_code == 403
    session.expire_all()
    assert session.get(Access, access_id) is not None


def test_another_customers_access_is_404(client, session, world, access_id):
    console_login(client, world.b.admin.email)
    b = world.b.customer.id
    for path in (f"/console/c/{b}/accesses/{access_id}",
                 f"/console/c/{b}/accesses/{access_id}/delete",
                 f"/console/c/{b}/accesses/{uuid.uuid4()}"):
        assert client.get(path).status_code == 404, path
    page = client.get(f"/console/c/{b}/accesses").get_data(as_text=True)
    r = client.post(f"/console/c/{b}/accesses/{access_id}/delete",
                    data={"csrf_token": token(page)})
    assert r.status_code == 404
    r = client.post(f"/console/c/{b}/accesses/{access_id}",
                    data={"csrf_token": token(page), "name": "Kapad", "methods": "app"})
    assert r.status_code == 404
    # and A's own admin still reaches A's access only through A
    assert client.get(f"/console/c/{world.a.customer.id}/accesses/{access_id}").status_code == 404
    session.expire_all()
    assert session.get(Access, access_id).name == "Dagtid"


def test_a_worker_cannot_edit_accesses(client, world, access_id):
    console_login(client, world.a.worker.email)
    assert client.get(f"/console/c/{world.a.customer.id}/accesses/{access_id}").status_code == 403


def test_a_guests_access_is_not_edited_here(client, session, world, doors):
    from entryfy import clock
    from entryfy.ops import doors as door_ops

    start = clock.now() + dt.timedelta(hours=1)
    door_ops.invite_guest(session, customer_id=world.a.customer.id, email="g@example.test",
                          first_name="G", valid_from=start, valid_to=start + dt.timedelta(hours=2),
                          door_ids=[doors[0].id], invited_by=world.a.admin.id)
    session.commit()
    guest_access = session.scalar(select(Access).where(Access.guest.is_(True)))
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/accesses/{guest_access.id}"
    assert client.get(url).status_code == 404
    assert client.get(f"{url}/delete").status_code == 404


def test_the_access_list_pages_past_fifty(client, session, world, doors):
    from entryfy.ops import doors as door_ops

    for i in range(52):
        door_ops.create_access(session, customer_id=world.a.customer.id, name=f"Lista {i:02d}",
                               door_ids=[doors[0].id], member_ids=[], methods=["app"])
    session.commit()
    console_login(client, world.a.admin.email)
    first = client.get(f"/console/c/{world.a.customer.id}/accesses").get_data(as_text=True)
    nxt = re.search(r'href="([^"]+cursor=[^"]+)"', first)
    assert nxt is not None
    second = client.get(nxt.group(1).replace("&amp;", "&")).get_data(as_text=True)
    on_first = set(re.findall(r"<td>(Lista \d\d)</td>", first))
    on_second = set(re.findall(r"<td>(Lista \d\d)</td>", second))
    assert len(on_first) == 50 and len(on_second) == 2 and not on_first & on_second
    assert on_first | on_second == {f"Lista {i:02d}" for i in range(52)}
