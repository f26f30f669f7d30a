"""entryfy.ops.customers and entryfy.ops.sites without HTTP: the rules themselves."""

from __future__ import annotations

import pytest

from entryfy.errors import Conflict, Unprocessable, ValidationFailed
from entryfy.ops import accounts as account_ops
from entryfy.ops import customers as ops
from entryfy.ops import invitations
from entryfy.ops import sites as site_ops
from tests.api.test_customers import luhn


@pytest.mark.parametrize("raw,expected", [
    ("556677-8899", "556677-8899"),
    ("5566778899", "556677-8899"),
    (" 556677-8899 ", "556677-8899"),
    ("16556677-8899", "556677-8899"),
    ("165566778899", "556677-8899"),
    ("202100-5489", "202100-5489"),  # a Swedish state authority's number
])
def test_org_nr_normalised(raw, expected):
    assert ops.normalise_org_nr(raw) == expected


@pytest.mark.parametrize("raw", [
    "556677-8898", "556677-889", "5566778899 1", "55667788990", "556677+8899",
    # 556677-8899 in full-width digits: Unicode digits are not organisation numbers.
    "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in "556677-8899"),
    "176556677-8899", "17556677-8899", luhn("850101123"), luhn("811111123"), "",
])
def test_org_nr_refused(raw):
    with pytest.raises(ValidationFailed) as err:
        ops.normalise_org_nr(raw)
    assert "org_nr" in err.value.extra["errors"]


def test_sole_trader_allowed_only_where_asked():
    nr = luhn("850101123")
    with pytest.raises(ValidationFailed):
        ops.normalise_org_nr(nr)
    assert ops.normalise_org_nr(nr, field="employer_org_nr", legal_entity=False) == nr


def test_create_customer_then_acceptance_binds(session):
    from models.tenancy import SYSTEM, set_context

    set_context(session, SYSTEM)
    customer, admin = ops.create_customer(session, name="Ops AB", org_nr=luhn("556000001"),
                                          admin_email="Ops.Admin@Example.test")
    assert (admin.account_id, admin.invited_email, admin.role) == (None, "ops.admin@example.test",
                                                                   "admin")
    with pytest.raises(Conflict):
        ops.create_customer(session, name="Again AB", org_nr=customer.org_nr,
                            admin_email="x@example.test")
    account = account_ops.register(session, email="ops.admin@example.test",
                                   password="a long passphrase here", first_name="Ops",
                                   last_name="Admin")
    session.refresh(admin)
    assert admin.account_id is None  # an account alone binds nothing
    assert [i.id for i in invitations.pending_for(session, account)] == [admin.id]
    invitations.accept(session, account, admin.id)
    session.refresh(admin)
    assert admin.account_id == account.id and admin.invited_email is None


def test_member_rules_without_http(session, world):
    from models.tenancy import SYSTEM, set_context

    set_context(session, SYSTEM)
    a = world.a
    with pytest.raises(ValidationFailed):
        ops.add_member(session, a.customer.id, email="g@example.test", role="guest")
    with pytest.raises(ValidationFailed):
        ops.update_member(session, a.worker_membership, {"customer_id": world.b.customer.id})
    with pytest.raises(Unprocessable):
        ops.update_member(session, a.admin_membership, {"active": False})
    with pytest.raises(Unprocessable):
        ops.remove_member(session, a.admin_membership)
    # Promoting the worker first makes stepping down possible.
    ops.update_member(session, a.worker_membership, {"role": "admin"})
    ops.update_member(session, a.admin_membership, {"role": "member"})
    assert a.admin_membership.role == "member"


def test_site_rules_without_http(session, world):
    with pytest.raises(ValidationFailed) as err:
        site_ops.create_site(session, world.a.customer.id, {"name": " ", "latitude": 95,
                                                            "longitude": 0, "radius_m": 5,
                                                            "timezone": "Nowhere/City"})
    assert set(err.value.extra["errors"]) == {"name", "latitude", "radius_m", "timezone"}
    with pytest.raises(ValidationFailed) as err:
        site_ops.create_site(session, world.a.customer.id, {"name": "No position"})
    assert set(err.value.extra["errors"]) == {"latitude", "longitude", "radius_m"}
    assert site_ops.valid_timezone("Europe/Stockholm")
    assert not site_ops.valid_timezone("/etc/localtime")


def test_two_admins_demoting_each_other_at_once_leave_one(committed, backend, make):
    """The last-admin rule holds under concurrency: the admins' rows are locked while one
    change is decided, so the second sees the first and is refused."""
    if backend.name != "postgresql":
        pytest.skip("SQLite has a single writer; the race needs concurrent transactions")
    import threading

    from models import Membership
    from models.tenancy import SYSTEM, set_context

    customer = make.customer()
    x = make.membership(customer, make.account(), "admin")
    y = make.membership(customer, make.account(), "admin")
    first_locked = threading.Event()
    results: dict[str, str] = {}

    def demote(member_id, name, hold):
        s = committed.session()
        set_context(s, SYSTEM)
        try:
            m = ops.get_member(s, customer.id, member_id)
            if not hold:
                first_locked.wait(5)
            ops.update_member(s, m, {"role": "member"})
            if hold:
                first_locked.set()
                threading.Event().wait(0.5)  # keep the lock while the other one tries
            s.commit()
            results[name] = "done"
        except Unprocessable:
            s.rollback()
            results[name] = "refused"
        finally:
            s.close()

    threads = [threading.Thread(target=demote, args=(x.id, "x", True)),
               threading.Thread(target=demote, args=(y.id, "y", False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert results == {"x": "done", "y": "refused"}
    s = committed.session()
    set_context(s, SYSTEM)
    roles = sorted(m.role for m in s.query(Membership).filter_by(customer_id=customer.id))
    s.close()
    assert roles == ["admin", "member"]


def test_the_same_invitation_twice_at_once_is_one_row_and_a_conflict(committed, backend, make):
    """Both requests pass the "already invited?" check before either commits; the unique
    index decides, and the loser gets a 409 instead of a failed transaction."""
    if backend.name != "postgresql":
        pytest.skip("SQLite has a single writer; the race needs concurrent transactions")
    import threading

    from models import Membership
    from models.tenancy import SYSTEM, set_context

    customer = make.customer()
    first_inserted = threading.Event()
    results: dict[str, str] = {}

    def invite(name, hold):
        s = committed.session()
        set_context(s, SYSTEM)
        try:
            if not hold:
                first_inserted.wait(5)
            ops.add_member(s, customer.id, email="race@example.test")
            if hold:
                first_inserted.set()
                threading.Event().wait(0.5)
            s.commit()
            results[name] = "added"
        except Conflict:
            s.rollback()
            results[name] = "conflict"
        finally:
            s.close()

    threads = [threading.Thread(target=invite, args=("one", True)),
               threading.Thread(target=invite, args=("two", False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert results == {"one": "added", "two": "conflict"}
    s = committed.session()
    set_context(s, SYSTEM)
    assert s.query(Membership).filter_by(customer_id=customer.id).count() == 1
    s.close()
