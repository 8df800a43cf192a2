"""`INSERT … ON CONFLICT DO NOTHING RETURNING id` for a model instance (house style 3).

One statement, no savepoint: the hot path of newInstance, where a unique constraint (not a
check-then-insert) decides which of several concurrent calls creates the row. A concurrent
duplicate waits on the unique index until the winner commits, then inserts nothing. Works in
PostgreSQL and in SQLite ≥ 3.35 (embedded mode), like marketplace_isv.nonces.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import CharField, Model


def fit(obj: Model, names=None) -> None:
    """Cut text to its column's length: KooGallery's fields may exceed their documented maximum
    (§4.0) and must not turn into a database error. Ids are sized far above their maximum."""
    for field in obj._meta.concrete_fields:
        if isinstance(field, CharField) and field.max_length and (names is None or field.name in names):
            value = getattr(obj, field.attname)
            if isinstance(value, str) and len(value) > field.max_length:
                setattr(obj, field.attname, value[: field.max_length])


def fitted(model: type[Model], **values):
    """`values` for `model`'s columns with text cut to each column's length, as `fit` does: for a
    row created or looked up from a call's ids (§4.0)."""
    for name, value in values.items():
        if isinstance(value, str):
            field = model._meta.get_field(name)
            if isinstance(field, CharField) and field.max_length and len(value) > field.max_length:
                values[name] = value[: field.max_length]
    return values


def insert_unless_conflict(obj: Model) -> bool:
    """Insert `obj`; True (and obj.pk set) if it was inserted, False if any unique constraint
    already held a row for it."""
    fit(obj)
    meta = obj._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT DO NOTHING RETURNING {quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    obj.pk = row[0]
    obj._state.adding, obj._state.db = False, connection.alias
    return True
