"""Identity numbers: validation (date, samordningsnummer, Luhn), normalisation, masking and
encryption at rest."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag
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
