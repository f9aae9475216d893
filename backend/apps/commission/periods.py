"""Report periods: calendar months written YYYY-MM."""

import datetime as dt
import re
from dataclasses import dataclass

from django.utils import timezone

_PERIOD_RE = re.compile(r"^(\d{4})-(\d{2})$")
EARLIEST_YEAR = 2000


class InvalidPeriod(ValueError):
    """The period is not a calendar month written YYYY-MM, or lies in the future."""


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> dt.date:
        """The first day of the month."""
        return dt.date(self.year, self.month, 1)

    @property
    def end(self) -> dt.date:
        """The first day of the next month (exclusive bound)."""
        return self.next().start

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    @property
    def year_start(self) -> dt.date:
        """1 January of the month's year: where its year to date begins."""
        return dt.date(self.year, 1, 1)

    def next(self) -> "Period":
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> "Period":
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def trailing(self, count: int) -> tuple["Period", ...]:
        """The `count` months that end with this one, the oldest first."""
        months = [self]
        while len(months) < count:
            months.append(months[-1].previous())
        return tuple(reversed(months))

    @classmethod
    def containing(cls, day: dt.date) -> "Period":
        return cls(day.year, day.month)


def current_period() -> Period:
    """The month in progress, in the configured TIME_ZONE."""
    return Period.containing(timezone.localdate())


def month_to_date(period: Period) -> dt.date | None:
    """The day a report of the month in progress runs to (today); None for a closed
    month, whose report is final."""
    today = timezone.localdate()
    return today if period == Period.containing(today) else None


def default_period() -> Period:
    """Last month in the configured TIME_ZONE: the one a monthly report covers."""
    return current_period().previous()


def parse_period(value: str | None) -> Period:
    """Parse 'YYYY-MM'; None means the default period (last month).

    Raises InvalidPeriod with a message fit for an operator.
    """
    if value is None:
        return default_period()
    match = _PERIOD_RE.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise InvalidPeriod(f"period must be a month written YYYY-MM, got {value!r}")
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12:
        raise InvalidPeriod(f"period {value!r} has no month {month:02d}")
    period = Period(year, month)
    if year < EARLIEST_YEAR:
        raise InvalidPeriod(f"period {value!r} is before {EARLIEST_YEAR}")
    if period > current_period():
        raise InvalidPeriod(f"period {value!r} is in the future")
    return period
