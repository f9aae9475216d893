"""Checks on what people type that ends up in emails, CSV files and ids."""

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

_ASCII_ID = re.compile(r"[0-9]{1,18}")
# Bidirectional overrides and isolates reorder the text around them: a name could make
# a subject or a CSV cell read differently from what it holds (Trojan Source).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def parse_id(value) -> int | None:
    """A database id from an int or a string of ASCII digits; None for anything else.

    str.isdigit() also accepts superscript and full-width digits (int() reads the
    full-width 2 as 2): ids from the outside (task arguments, commands, webhooks)
    must be plain digits.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and _ASCII_ID.fullmatch(value):
        return int(value) or None
    return None


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
