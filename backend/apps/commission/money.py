"""Money arithmetic: Decimal only, rounded half-up to cents."""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_money(value: Decimal | int | str) -> Decimal:
    """Round to cents, half-up (0.005 -> 0.01), the way finance teams expect."""
    if isinstance(value, float):
        raise TypeError("money must not be a float; pass a Decimal or a string")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def commission_for(amount: Decimal, rate_percent: Decimal) -> Decimal:
    """The commission on a deal amount at a percentage rate."""
    return to_money(Decimal(amount) * Decimal(rate_percent) / Decimal(100))


def format_money(amount: Decimal) -> str:
    """1234567.5 -> '1,234,567.50'."""
    return f"{to_money(amount):,.2f}"
