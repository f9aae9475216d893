"""Times in admin lists (core/admin_time.py): short, in the server's time zone, wrapping
only between the date and the time."""

import datetime as dt

from core.admin_time import short_time


def test_a_time_reads_in_the_servers_time_zone_and_wraps_only_between_date_and_time(settings):
    settings.TIME_ZONE = "Europe/Moscow"
    at = dt.datetime(2026, 11, 30, 22, 5, tzinfo=dt.UTC)

    assert short_time(at) == (
        '<span class="nowrap">2026-12-01</span> <span class="nowrap">01:05</span>'
    )


def test_no_time_is_a_dash():
    assert short_time(None) == "-"
