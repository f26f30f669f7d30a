"""Identity numbers: validation (date, samordningsnummer, Luhn), normalisation, masking and
encryption at rest."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st

from entryfy import clock, security
from entryfy.errors import ValidationFailed
from entryfy.ops import identity
from tests.attendance import luhn_digit, personnummer

TODAY = dt.date(2026, 11, 23)


def norm(raw: str) -> str:
    return identity.normalise(raw, today=TODAY)


def test_skatteverket_example_in_every_spelling():
    # 811218-9876 is the Tax Agency's own example of a valid personnummer.
    for raw in ("811218-9876", "8112189876", "198112189876", "19811218-9876", " 811218 9876 "):
        assert norm(raw) == "19811218-9876"


def test_ten_digits_take_the_latest_century_in_the_past():
    number = personnummer("20100315", "123")
    assert norm(number[2:]) == number  # 100315-1234 -> 2010, not 1910
    later = personnummer("19991231", "123")
    assert norm(later[2:]) == later  # 991231 would be in the future as 2099


def test_plus_separator_means_a_hundred_years_more():
    number = personnummer("19121212", "121")
    short = number[2:8] + "+" + number[9:]
    assert norm(short) == number
    with pytest.raises(ValidationFailed):
        norm(number.replace("-", "+"))  # '+' in the 12-digit form means nothing


def test_samordningsnummer_day_plus_sixty():
    number = personnummer("19850161", "234")  # born 1 January 1985, coordination number
    assert norm(number) == number
    assert norm(number[2:].replace("-", "")) == number


@pytest.mark.parametrize("raw", [
    "19850230-0000",  # 30 February
    "19851301-0000",  # month 13
    "19850192-0000",  # day 92 is neither a day nor a coordination day (32 + 60)
    "19850145-0000",  # day 45
    "20270101-0000",  # in the future
])
def test_dates_that_do_not_exist(raw):
    digits = raw[2:8] + raw[9:12]
    fixed = raw[:12] + luhn_digit(digits)  # right check digit, wrong date
    with pytest.raises(ValidationFailed) as err:
        norm(fixed)
    assert "date" in " ".join(err.value.extra["errors"]["identity_number"])


@pytest.mark.parametrize("raw", ["", "abc", "85010112345", "1985-01-01-1234", "8501011234567",
                                 "850101_1234", "19850101--1234"])
def test_malformed(raw):
    with pytest.raises(ValidationFailed):
        norm(raw)


def test_wrong_check_digit():
    number = personnummer("19850101", "123")
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    with pytest.raises(ValidationFailed) as err:
        norm(wrong)
    assert "check digit" in " ".join(err.value.extra["errors"]["identity_number"])


@given(born=st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY),
       serial=st.integers(0, 999), coordination=st.booleans(), wrong=st.integers(1, 9))
def test_every_valid_number_passes_and_every_other_check_digit_fails(born, serial,
                                                                    coordination, wrong):
    day = born.day + (60 if coordination else 0)
    number = personnummer(f"{born:%Y%m}{day:02d}", f"{serial:03d}")
    assert norm(number) == number
    bad = number[:-1] + str((int(number[-1]) + wrong) % 10)
    with pytest.raises(ValidationFailed):
        norm(bad)


def test_mask_keeps_only_the_date():
    assert identity.mask("19850101-1234") == "19850101-****"


def test_stored_encrypted_and_bound_to_the_account(session, make):
    a, b = make.account(), make.account()
    number = personnummer()
    identity.set_identity_number(session, a, number)
    assert number not in a.identity_number_enc
    assert number[9:] not in a.identity_number_enc
    assert identity.reveal(a.id, a.identity_number_enc) == number
    assert identity.masked(a) == number[:8] + "-****"
    # A ciphertext copied onto another account does not decrypt there.
    with pytest.raises(InvalidTag):
        identity.reveal(b.id, a.identity_number_enc)
    identity.set_identity_number(session, a, None)
    assert a.identity_number_enc is None and identity.masked(a) is None


def test_invalid_number_leaves_the_stored_one(session, make):
    a = make.account()
    number = personnummer()
    identity.set_identity_number(session, a, number)
    with pytest.raises(ValidationFailed):
        identity.set_identity_number(session, a, "19850230-1234")
    assert identity.reveal(a.id, a.identity_number_enc) == number


def messages(raw: str, today: dt.date = TODAY) -> list[str]:
    with pytest.raises(ValidationFailed) as err:
        identity.normalise(raw, today=today)
    return err.value.extra["errors"]["identity_number"]


def test_what_each_refusal_says():
    assert messages("abc") == ["Use 10 or 12 digits: YYMMDD-NNNN or YYYYMMDD-NNNN."]
    number = personnummer("19121212", "121")
    assert messages(number.replace("-", "+")) == [
        "The '+' separator belongs to the 10-digit form only."]
    date_gone = ["The date in the number does not exist."]
    bad_day = "850230-000" + luhn_digit("850230000")
    assert messages(bad_day) == date_gone  # the 10-digit form: found picking the century
    assert messages("19" + bad_day) == date_gone  # the 12-digit form
    assert messages(personnummer("20261124", "123")) == date_gone  # tomorrow
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert messages(wrong) == ["The check digit is wrong."]


def test_a_person_born_today_is_accepted_in_both_forms():
    """Born today is not in the future: the 12-digit form passes and the 10-digit form keeps
    this century (also on the first of a month, where the century check looks at day 1)."""
    for today in (TODAY, dt.date(2026, 11, 1)):
        number = personnummer(f"{today:%Y%m%d}", "123")
        assert identity.normalise(number, today=today) == number
        assert identity.normalise(number[2:], today=today) == number


def test_the_year_bounds():
    """1850 is the earliest year taken; the 10-digit century follows today's year."""
    assert norm(personnummer("18500101", "123")) == personnummer("18500101", "123")
    assert messages(personnummer("18491231", "123")) == [
        "The date in the number does not exist."]
    # Today in 2019: 15 is 2015, 25 is 1925.
    in_2019 = dt.date(2019, 6, 1)
    fifteen = personnummer("20150101", "123")
    assert identity.normalise(fifteen[2:], today=in_2019) == fifteen
    twentyfive = personnummer("19250101", "123")
    assert identity.normalise(twentyfive[2:], today=in_2019) == twentyfive
    # Today in 2101: 00 is 2100, 05 is 2005.
    in_2101 = dt.date(2101, 1, 1)
    assert identity.normalise(personnummer("21000101", "123")[2:], today=in_2101) == (
        personnummer("21000101", "123"))
    assert identity.normalise(personnummer("20050101", "123")[2:], today=in_2101) == (
        personnummer("20050101", "123"))


def test_today_defaults_to_the_clock():
    number = personnummer("20261124", "123")
    with clock.frozen_at(dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)):
        assert identity.normalise(number) == number
    with clock.frozen_at(dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)), \
            pytest.raises(ValidationFailed):
        identity.normalise(number)


def test_stored_with_its_lookup_hash_and_the_time(session, make):
    a = make.account()
    number = "19811218-9876"
    at = dt.datetime(2027, 2, 3, 4, 5, tzinfo=dt.UTC)
    with clock.frozen_at(at):
        identity.set_identity_number(session, a, "8112189876")
    # The kiosk's lookup key: HMAC under the "identity-number" purpose, of the normalised form.
    expected = security.keys().keyed_hash("identity-number", number)
    assert identity.lookup_hash(number) == expected
    assert a.identity_number_hash == expected
    assert a.updated_at.replace(tzinfo=dt.UTC) == at
    later = at + dt.timedelta(days=1)
    with clock.frozen_at(later):
        identity.set_identity_number(session, a, None)
    assert a.identity_number_hash is None and a.identity_number_enc is None
    assert a.updated_at.replace(tzinfo=dt.UTC) == later


def test_backfill_gives_missing_lookup_hashes_in_id_order_batch_by_batch(session, make):
    # Accounts until one made later has a smaller id than one made before it: then the id
    # order is not the order the rows were written in (which a query without ORDER BY
    # would follow on SQLite).
    made: list = []
    pair = None
    while pair is None:
        made.append(make.account())
        pair = next(((a, b) for i, a in enumerate(made) for b in made[i + 1:] if b.id < a.id),
                    None)
    made_first, made_later = pair
    numbers = {acc.id: personnummer() for acc in made}
    for acc in made:
        identity.set_identity_number(session, acc, numbers[acc.id])
    none_given = make.account()
    made_first.identity_number_hash = None
    made_later.identity_number_hash = None
    session.flush()

    def hashed(acc) -> str:
        return security.keys().keyed_hash("identity-number", numbers[acc.id])

    assert identity.backfill_lookup_hashes(session, batch=1) == 1
    assert made_later.identity_number_hash == hashed(made_later)  # the smaller id first
    assert made_first.identity_number_hash is None  # not in this batch
    assert identity.backfill_lookup_hashes(session) == 1
    assert made_first.identity_number_hash == hashed(made_first)
    assert all(acc.identity_number_hash == hashed(acc) for acc in made)
    assert none_given.identity_number_hash is None
    assert identity.backfill_lookup_hashes(session) == 0


def test_backfill_batch_default_is_500():
    import inspect

    assert inspect.signature(identity.backfill_lookup_hashes).parameters["batch"].default == 500
