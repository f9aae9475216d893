"""What SQL written by hand takes from the models: table and column names from their
`_meta`, quoted as the database wants them, and IN lists of constants as parameters.

A hand-written statement built from these follows a renamed table or column and a
changed status set, on SQLite and PostgreSQL alike, with nothing to keep in step.
"""

import functools
from collections.abc import Iterable

from django.core.exceptions import FieldDoesNotExist
from django.db import DEFAULT_DB_ALIAS, connections, models


class Table:
    """A model's table as SQL names it: `str(table)` is its quoted table name,
    `table.<field name>` a field's quoted column (`table.pk` the primary key's), so a
    template reads `"UPDATE {d} SET {d.status} = %s".format(d=Table(EmailDelivery))`."""

    def __init__(self, model: type[models.Model], using: str = DEFAULT_DB_ALIAS):
        self._meta = model._meta
        self._quote = connections[using].ops.quote_name

    def __str__(self) -> str:
        return self._quote(self._meta.db_table)

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        if name == "pk":
            return self._quote(self._meta.pk.column)
        try:
            field = self._meta.get_field(name)
        except FieldDoesNotExist:
            field = None
        if field is None or not getattr(field, "concrete", False):
            raise AttributeError(f"{self._meta.label} has no column for {name!r}")
        return self._quote(field.column)


@functools.cache
def select_list(model: type[models.Model], prefix: str = "", using: str = DEFAULT_DB_ALIAS) -> str:
    """Every column of `model` by name ('u."id", u."email", ...' with prefix 'u.'), for
    a hand-written statement that reads whole rows. Not `*`: PostgreSQL refuses to run a
    prepared statement whose result would change shape, as `*` does when a migration
    adds a column while workers are running."""
    quote = connections[using].ops.quote_name
    return ", ".join(prefix + quote(field.column) for field in model._meta.concrete_fields)


def in_list(name: str, values: Iterable[str]) -> tuple[str, dict[str, str]]:
    """Named placeholders for `values` in an IN list, and their parameters:
    ('%(gone_0)s, %(gone_1)s', {'gone_0': 'bounced', 'gone_1': 'sent'}). Sorted, so the
    statement's text is the same in every process (PostgreSQL prepares it by its text)."""
    params = {f"{name}_{index}": str(value) for index, value in enumerate(sorted(values))}
    if not params:
        raise ValueError(f"an IN list needs at least one value ({name})")
    return ", ".join(f"%({key})s" for key in params), params
