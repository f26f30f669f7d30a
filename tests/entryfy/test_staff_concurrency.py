"""Two sign-ins racing with the same TOTP code or recovery code: exactly one wins
(PostgreSQL, real transactions)."""

from __future__ import annotations

import threading

import pyotp
import pytest

from entryfy import clock
from entryfy.ops import staff as staff_ops
from models import Account
from models.tenancy import SYSTEM, set_context


def _race(committed, account_id, code) -> list[BaseException | None]:
    s1, s2 = committed.session(), committed.session()
    outcome: list[BaseException | None] = []
    try:
        for s in (s1, s2):
            set_context(s, SYSTEM)
        a1, a2 = s1.get(Account, account_id), s2.get(Account, account_id)
        staff_ops.check_second_factor(s1, a1, code)  # holds the row lock until commit

        def second() -> None:
            try:
                staff_ops.check_second_factor(s2, a2, code)
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        t = threading.Thread(target=second, daemon=True)
        t.start()
        t.join(0.5)
        waited = t.is_alive()
        s1.commit()
        t.join(10)
        assert waited, "the second claim should wait for the first transaction"
    finally:
        s1.rollback()
        s2.rollback()
        s1.close()
        s2.close()
    return outcome


@pytest.mark.postgres_only
def test_the_same_code_cannot_be_used_twice_concurrently(app, committed, backend):
    if backend.name != "postgresql":
        pytest.skip("real concurrency: PostgreSQL")
    s0 = committed.session()
    set_context(s0, SYSTEM)
    try:
        enrolment = staff_ops.create_staff(s0, email="race@vendor.test",
                                           password="correct horse battery staple",
                                           role="support", first_name="Race", last_name="Test")
        s0.commit()
        account_id = enrolment.account.id
    finally:
        s0.close()
    for code in (pyotp.TOTP(enrolment.secret).at(clock.now()), enrolment.recovery_codes[0]):
        outcome = _race(committed, account_id, code)
        assert len(outcome) == 1 and outcome[0] is not None
        assert getattr(outcome[0], "slug", "") == "invalid-credentials"
