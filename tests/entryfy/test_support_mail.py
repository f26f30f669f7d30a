"""Ticket answers reach the person who opened the ticket, and grant changes reach the
customer's admins, by e-mail."""

from __future__ import annotations

from entryfy import mail
from entryfy.ops import support as ops
from models.tenancy import scope_to


def _seen() -> set[str]:
    return {m["Message-ID"] for m in mail.mailer().messages()}


def _new(before: set[str]) -> list:
    # Outbox files are named by the second: compare ids, not positions.
    return [m for m in mail.mailer().messages() if m["Message-ID"] not in before]


def test_answer_and_grant_changes_are_mailed(app, session, world, make):
    scope_to(session, world.a.customer.id)
    second_admin = make.account()
    make.membership(world.a.customer, second_admin, "admin")
    ticket = ops.open_ticket(session, customer_id=world.a.customer.id, author=world.a.admin,
                             subject="Grinden", body="Öppnar inte")
    staff = make.staff("support").account
    with app.app_context():
        n = _seen()
        ops.support_message(session, staff, ticket.id, "Prova igen nu.")
        (answer,) = _new(n)
        assert answer["To"] == world.a.admin.email and "Grinden" in answer["Subject"]
        assert "Prova igen" not in answer.get_content()  # the answer stays in the console

        n = _seen()
        scope_to(session, world.a.customer.id)
        grant = ops.create_grant(session, ticket, by=world.a.admin, scopes=["members"],
                                 expires_in_hours=2)
        told = _new(n)
        assert sorted(m["To"] for m in told) == sorted([world.a.admin.email,
                                                        second_admin.email])
        assert all("members" in m.get_content() for m in told)
        assert world.b.admin.email not in [m["To"] for m in told]

        n = _seen()
        ops.revoke_grant(session, ticket, grant.id, by=world.a.admin)
        assert {m["Subject"] for m in _new(n)} == {"Support access revoked"}
        n = _seen()
        ops.revoke_grant(session, ticket, grant.id, by=world.a.admin)  # again: no news
        assert _new(n) == []


def test_an_answer_goes_to_the_admins_once_the_opener_can_no_longer_read_it(app, session,
                                                                           world, make):
    """The opener who left the company, is no longer its admin, or whose account is frozen,
    is not told about the company's ticket (only admins read tickets); the customer's current
    admins are. A current admin opener alone is."""
    import datetime as dt

    from entryfy import clock
    from models import Membership

    scope_to(session, world.a.customer.id)
    opener = make.account()
    left = make.membership(world.a.customer, opener, "admin")
    ticket = ops.open_ticket(session, customer_id=world.a.customer.id, author=opener,
                             subject="Kortläsaren", body="Blinkar rött")
    staff = make.staff("support").account
    with app.app_context():
        n = _seen()
        ops.support_message(session, staff, ticket.id, "Byt batteri.")
        assert [m["To"] for m in _new(n)] == [opener.email]  # still an admin: only them

        scope_to(session, world.a.customer.id)
        left.role = "foreman"  # still with the company, but no longer reads its tickets
        session.flush()
        n = _seen()
        ops.support_message(session, staff, ticket.id, "Hjälpte det?")
        assert [m["To"] for m in _new(n)] == [world.a.admin.email]
        left.role = "admin"

        scope_to(session, world.a.customer.id)
        left.valid_to = clock.now() - dt.timedelta(minutes=1)  # has left the company
        session.flush()
        n = _seen()
        ops.support_message(session, staff, ticket.id, "Fungerar det nu?")
        assert [m["To"] for m in _new(n)] == [world.a.admin.email]

        scope_to(session, world.a.customer.id)
        left.valid_to = None
        opener.is_active = False  # frozen: being erased at their request
        session.flush()
        n = _seen()
        ops.support_message(session, staff, ticket.id, "Vi stänger ärendet.")
        assert [m["To"] for m in _new(n)] == [world.a.admin.email]
        # A membership at another customer does not count for this customer's ticket.
        opener.is_active = True
        session.delete(left)
        make.membership(world.b.customer, opener, "admin")
        session.flush()
        n = _seen()
        ops.support_message(session, staff, ticket.id, "Sista svaret.")
        assert [m["To"] for m in _new(n)] == [world.a.admin.email]
        assert session.get(Membership, left.id) is None
