"""Periods (apps.commission.periods): a calendar month `YYYY-MM`, its bounds and neighbours,
what is refused, and last month in the configured time zone by default."""

import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone

from apps.commission.periods import InvalidPeriod, Period, default_period, parse_period


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
