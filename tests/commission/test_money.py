"""Money (apps.commission.money): cents rounded half up, no floats, a commission as a rate
of an amount."""

from decimal import Decimal

import pytest

from apps.commission.money import commission_for, format_money, to_money


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
