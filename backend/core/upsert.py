"""One model instance written with one INSERT ... ON CONFLICT, built from the model's own
fields: a delivery, a stored report, a task result, on every task.

bulk_create writes the same SQL, but builds it anew on every task, at about the cost of
running it; and it cannot say whether a conflicting row was left alone (DO NOTHING) while
returning the id of one that was inserted.
"""

import functools

from django.db import DEFAULT_DB_ALIAS, connections, models


def insert(
    obj: models.Model,
    *,
    unique: tuple[str, ...],
    update: tuple[str, ...] = (),
    keep: tuple[str, tuple] | None = None,
    using: str | None = None,
) -> bool:
    """Insert `obj`, or, when a row with the same `unique` fields (a unique constraint's)
    exists, update that row's `update` fields (nothing with none), unless `keep`
    (field name, values) says the existing row's field holds one of those values. True,
    and obj.pk set, if a row was inserted or updated; False if an existing row was left
    as it was."""
    connection = connections[using or DEFAULT_DB_ALIAS]
    kept_field, kept_values = keep or (None, ())
    fields, sql = _statement(
        type(obj), connection.alias, unique, update, kept_field, len(kept_values)
    )
    values = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, *kept_values])
        row = cursor.fetchone()
    if row is None:
        return False
    obj.pk = row[0]
    obj._state.adding, obj._state.db = False, connection.alias
    return True


@functools.cache
def _statement(
    model: type[models.Model],
    alias: str,
    unique: tuple[str, ...],
    update: tuple[str, ...],
    kept_field: str | None = None,
    kept_count: int = 0,
) -> tuple[list[models.Field], str]:
    # Names are the model's own, quoted; values are parameters.
    meta, quote = model._meta, connections[alias].ops.quote_name
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    if update:
        changed = (quote(meta.get_field(name).column) for name in update)
        action = "DO UPDATE SET " + ", ".join(f"{name} = EXCLUDED.{name}" for name in changed)
        if kept_field and kept_count:
            column = f"{quote(meta.db_table)}.{quote(meta.get_field(kept_field).column)}"
            action += f" WHERE {column} NOT IN ({', '.join(['%s'] * kept_count)})"
    else:
        action = "DO NOTHING"
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    conflict = ", ".join(quote(meta.get_field(name).column) for name in unique)
    sql += f" ON CONFLICT ({conflict}) {action}"
    return fields, f"{sql} RETURNING {quote(meta.pk.column)}"
