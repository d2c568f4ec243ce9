from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.plausible import clean_amount, clean_occurred_at


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.5", "12.50"),
        (" 7 ", "7.00"),
        (12, "12.00"),
        (12.25, "12.25"),
        (Decimal("1.10"), "1.10"),
        ("1e2", "100.00"),
    ],
)
def test_plain_amounts_are_read_as_cents(value, expected):
    assert clean_amount(value) == Decimal(expected)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("４２", "invalid"),  # fullwidth
        ("٤٢", "invalid"),  # Arabic-Indic
        ("¹", "invalid"),
        ("1_000", "invalid"),
        ("NaN", "invalid"),
        ("Infinity", "invalid"),
        (float("inf"), "invalid"),
        (True, "invalid"),
        (None, "invalid"),
        ("", "invalid"),
        ("0", "min_value"),
        ("-0", "min_value"),
        ("0.00", "min_value"),
        ("-5", "min_value"),
        ("1000000.01", "max_value"),
        ("1e9999", "max_value"),
        ("1.234", "max_decimal_places"),
        ("1e-9", "max_decimal_places"),
    ],
)
def test_implausible_amounts_are_refused(value, code):
    with pytest.raises(ValidationError) as raised:
        clean_amount(value)
    assert raised.value.code == code


def test_history_may_hold_a_zero_amount_but_not_a_negative_one():
    assert clean_amount("0", allow_zero=True) == 0
    with pytest.raises(ValidationError):
        clean_amount("-0.01", allow_zero=True)


def test_the_maximum_follows_the_setting(settings):
    settings.TRANSACTIONS_MAX_AMOUNT = "100.00"
    with pytest.raises(ValidationError):
        clean_amount("100.01")


@pytest.mark.parametrize("year", [1, 1900, 1970, 1999])
def test_dates_before_the_earliest_plausible_one_are_refused(year):
    with pytest.raises(ValidationError) as raised:
        clean_occurred_at(datetime(year, 6, 1, tzinfo=UTC))
    assert raised.value.code == "min_value"


def test_the_earliest_date_is_a_setting(settings):
    settings.TRANSACTIONS_EARLIEST_OCCURRED_AT = "2020-01-01"
    with pytest.raises(ValidationError):
        clean_occurred_at(datetime(2019, 12, 31, tzinfo=UTC))
    assert clean_occurred_at(datetime(2020, 1, 1)) == datetime(2020, 1, 1, tzinfo=UTC)  # naive is UTC


def test_the_future_is_refused_beyond_the_clock_skew():
    now = timezone.now()
    assert clean_occurred_at(now + timedelta(seconds=60), now=now)
    with pytest.raises(ValidationError) as raised:
        clean_occurred_at(now + timedelta(minutes=10), now=now)
    assert raised.value.code == "max_value"


def test_formula_cells_get_a_leading_quote():
    import pandas as pd

    from core.csvcells import neutralise_column

    risky = ["=1+1", "+1", "-1", "@A1", "\tx", "\rx"]
    assert list(neutralise_column(pd.Series(risky))) == ["'" + cell for cell in risky]
    assert list(neutralise_column(pd.Series(["tx_1", "a=b"]))) == ["tx_1", "a=b"]
