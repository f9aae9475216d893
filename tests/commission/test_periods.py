import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from apps.commission.money import commission_for, format_money, to_money
from apps.commission.periods import InvalidPeriod, Period, default_period, parse_period


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.005", "0.01"), ("0.004", "0.00"), ("2.675", "2.68"), ("10", "10.00"), ("-0.005", "-0.01")],
)
def test_money_rounds_half_up_to_cents(value, expected):
    assert to_money(Decimal(value)) == Decimal(expected)


def test_money_refuses_floats():
    with pytest.raises(TypeError):
        to_money(0.1)


def test_commission_is_rate_percent_of_amount_rounded_half_up():
    # 333.35 * 7.5% = 25.00125 -> 25.00 ; 1000.10 * 12.5% = 125.0125 -> 125.01
    assert commission_for(Decimal("333.35"), Decimal("7.5")) == Decimal("25.00")
    assert commission_for(Decimal("1000.10"), Decimal("12.5")) == Decimal("125.01")
    assert commission_for(Decimal("0.10"), Decimal("5")) == Decimal("0.01")  # 0.005 rounds up


def test_format_money_groups_thousands():
    assert format_money(Decimal("1234567.5")) == "1,234,567.50"


def test_period_bounds_and_neighbours():
    period = Period(2024, 12)
    assert str(period) == "2024-12"
    assert period.start == dt.date(2024, 12, 1)
    assert period.end == dt.date(2025, 1, 1)
    assert period.last_day == dt.date(2024, 12, 31)
    assert period.next() == Period(2025, 1)
    assert Period(2025, 1).previous() == Period(2024, 12)
    assert Period(2024, 2).last_day == dt.date(2024, 2, 29)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2025-13", "no month 13"),
        ("2025-00", "no month 00"),
        ("2025-9", "YYYY-MM"),
        ("25-09", "YYYY-MM"),
        ("September", "YYYY-MM"),
        ("", "YYYY-MM"),
        ("1999-12", "before 2000"),
        ("2999-01", "in the future"),
        (202509, "YYYY-MM"),
    ],
)
def test_malformed_periods_are_refused_with_a_clear_message(value, message):
    with pytest.raises(InvalidPeriod, match=message):
        parse_period(value)


def test_parse_accepts_a_past_month_and_the_current_one():
    assert parse_period("2025-09") == Period(2025, 9)
    today = timezone.localdate()
    assert parse_period(f"{today:%Y-%m}") == Period(today.year, today.month)


def test_default_period_is_last_month_in_the_configured_time_zone(settings):
    # 2025-10-01 02:30 in Moscow is still 2025-09-30 in UTC.
    instant = dt.datetime(2025, 9, 30, 23, 30, tzinfo=dt.UTC)
    with mock.patch("django.utils.timezone.now", return_value=instant):
        settings.TIME_ZONE = "Europe/Moscow"
        assert default_period() == Period(2025, 9)
        assert parse_period(None) == Period(2025, 9)
        settings.TIME_ZONE = "UTC"
        assert default_period() == Period(2025, 8)
