"""Checks on what people type that ends up in emails, CSV files and ids."""

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.db import connections, models, router
from django.utils.deconstruct import deconstructible

# More digits than any integer column holds; the column's own range is checked after.
_ASCII_ID = re.compile(r"[0-9]{1,20}")
# Bidirectional overrides and isolates reorder the text around them: a name could make
# a subject or a CSV cell read differently from what it holds (Trojan Source).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def largest_id(model: type[models.Model]) -> int | None:
    """The largest primary key `model`'s column holds on its database (None: no limit).

    Asked of the database backend, as Django's own lookups do, so it follows the
    field's type: 2**63 - 1 for a BigAutoField, 2**31 - 1 for an AutoField on PostgreSQL.
    """
    connection = connections[router.db_for_read(model)]
    return connection.ops.integer_field_range(model._meta.pk.get_internal_type())[1]


def parse_id(value, model: type[models.Model]) -> int | None:
    """A primary key of `model` from an int or a string of ASCII digits; None for
    anything else, and for a number beyond what the key's column holds.

    str.isdigit() also accepts superscript and full-width digits (int() reads the
    full-width 2 as 2): ids from the outside (task arguments, commands, webhooks)
    must be plain digits. A forged huge id is refused here, before it reaches the
    database: the ORM skips a lookup it cannot store, but hand-written SQL would fail
    with an overflow (OverflowError on SQLite, DataError on PostgreSQL).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and _ASCII_ID.fullmatch(value):
        value = int(value)
    if not isinstance(value, int) or value < 1:
        return None
    largest = largest_id(model)
    return value if largest is None or value <= largest else None


def id_error(what: str, value, model: type[models.Model]) -> str:
    """What an operator reads about an id parse_id refused."""
    largest = largest_id(model)
    bounds = "greater than 0" if largest is None else f"from 1 to {largest}"
    return f"{what} must be a whole number {bounds}, got {value!r}"


def unsafe_characters(text: str) -> list[str]:
    """The control characters (CR, LF, tab, ...) and bidi controls in `text`, as U+XXXX."""
    return [
        f"U+{ord(char):04X}"
        for char in text
        if unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS
    ]


@deconstructible
class PlainTextValidator:
    """A name shown in emails and reports: one line of text, read as it is written."""

    message = "Use plain text on one line: %(characters)s not allowed."
    code = "unsafe_characters"

    def __call__(self, value: str) -> None:
        found = unsafe_characters(value or "")
        if found:
            raise ValidationError(
                self.message, code=self.code, params={"characters": ", ".join(sorted(set(found)))}
            )

    def __eq__(self, other) -> bool:
        return isinstance(other, PlainTextValidator)


def plain_text(text: str) -> str:
    """`text` without control or bidi characters, for what was stored before the
    validator existed (or written around it)."""
    return "".join(
        " " if unicodedata.category(char) == "Cc" else char
        for char in text
        if char not in _BIDI_CONTROLS
    )
