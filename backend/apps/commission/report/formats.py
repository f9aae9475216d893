"""Numbers and dates as the active language writes them (Babel, with CLDR's data).

Render functions activate the manager's language (django.utils.translation.override);
everything here reads it, so no caller passes a locale around. The patterns that
differ between languages are part of the translation: a translator decides how an
amount with its currency or a day reads, and English keeps the report's established
forms ('1,234.50 USD', '2026-10-01').
"""

import datetime as dt
import functools
from decimal import Decimal

from babel import Locale
from babel.dates import format_date
from babel.numbers import (
    format_currency,
    format_percent,
    get_decimal_symbol,
    get_group_symbol,
    get_minus_sign_symbol,
    get_plus_sign_symbol,
)
from django.utils.translation import get_language, pgettext, to_locale

from ..money import to_money
from ..periods import Period


def _locale() -> Locale:
    return _parsed_locale(get_language())


@functools.cache
def _parsed_locale(language: str) -> Locale:
    # Keyed by the few codes of settings.LANGUAGES.
    return Locale.parse(to_locale(language))


@functools.cache
def _number_symbols(language: str) -> tuple[dict[int, str], str, str]:
    """The language's digit separators (as a str.translate table), plus and minus signs."""
    locale = _parsed_locale(language)
    separators = str.maketrans({",": get_group_symbol(locale), ".": get_decimal_symbol(locale)})
    return separators, get_plus_sign_symbol(locale), get_minus_sign_symbol(locale)


def _signed(value: Decimal, plus: bool) -> str:
    """Babel's '#,##0.00' (and '+#,##0.00;-#,##0.00' with `plus`) in the active language,
    cents always shown: '1,234.50', ru '1 234,50'. Written with Python's own grouping and
    the locale's symbols, because a report formats every cell twice and Babel's pattern
    engine is costly at that rate; tests hold it to Babel's output for every language."""
    value = to_money(value)
    separators, plus_sign, minus_sign = _number_symbols(get_language())
    digits = f"{abs(value):,.2f}".translate(separators)
    if value.is_signed():
        return minus_sign + digits
    return plus_sign + digits if plus and value else digits


def amount(value: Decimal) -> str:
    """An amount without its currency, for table cells: '1,234.50'; ru '1 234,50'."""
    return _signed(value, plus=False)


def change(value: Decimal) -> str:
    """A difference, signed unless zero: '+12.50', '-3.00', '0.00'."""
    return _signed(value, plus=True)


def money(value: Decimal, currency: str) -> str:
    """An amount with its currency: '1,234.50 USD'; ru '1 234,50 ₽'. The digits as
    amount() writes them, between the language's currency prefix and suffix (Babel's
    pattern engine costs a tenth of a millisecond a call, and the summary has a dozen);
    tests hold it to Babel's format_currency."""
    prefix, suffix = _currency_affixes(get_language(), currency)
    digits = _signed(value, plus=False)
    _, _, minus_sign = _number_symbols(get_language())
    sign = minus_sign if digits.startswith(minus_sign) else ""
    return f"{sign}{prefix}{digits.removeprefix(sign)}{suffix}"


@functools.cache
def _currency_affixes(language: str, currency: str) -> tuple[str, str]:
    """What the language writes before and after an amount in `currency`."""
    # Translators: a Babel number pattern (https://babel.pocoo.org/en/latest/numbers.html):
    # ¤ is the currency's symbol (₽, $), ¤¤ its ISO code (RUB, USD).
    pattern = pgettext("amount with currency, a Babel pattern", "#,##0.00 ¤¤")
    one = Decimal("1.00")
    sample = format_currency(
        one, currency, format=pattern, locale=_parsed_locale(language), currency_digits=False
    )
    prefix, found, suffix = sample.partition(_signed(one, plus=False))
    if not found:
        raise ValueError(f"the {language} currency pattern {pattern!r} writes 1 as {sample!r}")
    return prefix, suffix


def day(value: dt.date) -> str:
    """A day: '2026-10-01'; ru '1 октября 2026' and the year's abbreviation."""
    # Translators: a Babel date pattern (https://babel.pocoo.org/en/latest/dates.html).
    pattern = pgettext("a day, a Babel pattern", "yyyy-MM-dd")
    return format_date(value, pattern, locale=_locale())


def month(period: Period) -> str:
    """A month as a heading names it: 'October 2026'; ru 'октябрь 2026' (the
    stand-alone form, as after «за»)."""
    return format_date(period.start, "LLLL y", locale=_locale())


def month_in_subject(period: Period) -> str:
    """The month as the subject names it: '2026-10'; ru 'октябрь 2026'."""
    # Translators: a Babel date pattern (https://babel.pocoo.org/en/latest/dates.html);
    # LLLL is the month's stand-alone name ('октябрь'), MMMM the one that goes with a day.
    pattern = pgettext("the month in a subject, a Babel pattern", "yyyy-MM")
    return format_date(period.start, pattern, locale=_locale())


def month_short(period: Period) -> str:
    """A month in a chart's label: 'Oct 2026'; ru 'окт. 2026'."""
    return _month_short(get_language(), period)


@functools.cache
def _month_short(language: str, period: Period) -> str:
    # Twelve labels a report, the same for every report of a month: Babel's date
    # formatting once each.
    return format_date(period.start, "LLL y", locale=_parsed_locale(language))


def percent(value: Decimal) -> str:
    """A signed share with one decimal: '+32.8%'; ru '+32,8 %'."""
    return format_percent(value, "+#,##0.0%;-#,##0.0%", locale=_locale())
