"""`INSERT … ON CONFLICT DO NOTHING RETURNING id` for a model instance (house style 3).

One statement, no savepoint: the hot path of newInstance, where a unique constraint (not a
check-then-insert) decides which of several concurrent calls creates the row. A concurrent
duplicate waits on the unique index until the winner commits, then inserts nothing. Works in
PostgreSQL and in SQLite ≥ 3.35 (embedded mode), like marketplace_isv.nonces.
"""

from __future__ import annotations

import functools

from django.db import connection
from django.db.models import CharField, Model

from marketplace_isv.fields import key_fit


@functools.cache
def text_limits(model: type[Model]) -> dict[str, int]:
    """The length of each of `model`'s text columns, by field name."""
    return {
        field.name: field.max_length
        for field in model._meta.concrete_fields
        if isinstance(field, CharField) and field.max_length
    }


# Columns that are keys (idempotency, §5.1): fitted with a digest of the whole, not cut, so two
# long ids sharing a beginning are never taken for one order.
KEY_COLUMNS = frozenset({"order_id", "order_line_id", "product_id", "purchase_product_id"})


def fitted(model: type[Model], **values):
    """`values` for `model`'s columns with text fitted to each column's length: KooGallery's
    fields may exceed their documented maximum (§4.0) and must not turn into a database error, and
    a row created from a call's ids is looked up again by the same fitted values. Text is cut; a
    key column keeps a digest of the whole (marketplace_isv.fields.key_fit)."""
    limits = text_limits(model)
    for name, value in values.items():
        if isinstance(value, str) and name in limits:
            values[name] = fit_text(name, value, limits[name])
    return values


def fit_text(name: str, value: str, limit: int) -> str:
    """One column's text fitted to its `limit`: cut, or for a key column, `key_fit`."""
    if len(value) <= limit:
        return value
    return key_fit(value, limit) if name in KEY_COLUMNS else value[:limit]


def fit(obj: Model, names=None) -> None:
    """`fitted` for a model instance's own fields (all of them, or `names`)."""
    names = text_limits(type(obj)) if names is None else names
    for name, value in fitted(type(obj), **{name: getattr(obj, name) for name in names}).items():
        setattr(obj, name, value)


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
