"""Bulk upserts guarded by the Kit timeStamp: `INSERT … ON CONFLICT (…) DO UPDATE … WHERE the
stored stamp is not newer` (U35). One statement per chunk, no per-row queries, the same SQL on
PostgreSQL and SQLite (embedded mode), but for merging JSON objects (`||` there, `json_patch`
here, which also drops a member sent as null). Django's bulk_create(update_conflicts=True) has no WHERE
on the update, which is why this is written out.

Rows are sorted by their conflict key first, so two concurrent calls touching the same rows
lock them in the same order and cannot deadlock each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models

MAX_PARAMS = 30000  # under PostgreSQL's 65535 and SQLite's 32766 bound parameters per statement
# Values of these field types reach the database driver unchanged: skip Django's per-value
# preparation, which dominates the cost of a 10,000-row snapshot otherwise.
_PASS_THROUGH = (models.CharField, models.TextField, models.IntegerField, models.BooleanField)


def upsert(
    model: type[models.Model],
    rows: Sequence[dict[str, Any]],
    *,
    unique: Sequence[str],
    update: Sequence[str],
    keep_when_blank: Sequence[str] = (),
    merge: Sequence[str] = (),
    stamp: str | None = "synced_stamp",
) -> int:
    """Insert `rows` (dicts of field name → value, all with the same keys); on a conflict on
    `unique`, overwrite the `update` fields — unless the stored `stamp` is newer than the
    incoming one. Fields in `keep_when_blank` keep their stored value when the incoming one is
    empty or NULL (an optional member that was not sent). JSON object fields in `merge` take the
    incoming members over the stored ones, keeping stored members that were not sent. Returns how
    many rows were inserted or changed; the rest were older than what is stored."""
    if not rows:
        return 0
    opts = model._meta
    qn = connection.ops.quote_name
    fields = [opts.get_field(name) for name in rows[0]]
    table = qn(opts.db_table)
    columns = ", ".join(qn(f.column) for f in fields)
    conflict = ", ".join(qn(opts.get_field(name).column) for name in unique)
    assignments = ", ".join(
        _assignment(opts.get_field(n), table, keep=n in keep_when_blank, merge=n in merge) for n in update
    )
    guard = ""
    if stamp:
        col = qn(opts.get_field(stamp).column)
        guard = f" WHERE {table}.{col} IS NULL OR {table}.{col} <= EXCLUDED.{col}"
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    ordered = sorted(rows, key=lambda row: tuple(str(row[name]) for name in unique))
    per_statement = max(1, MAX_PARAMS // len(fields))
    prep = _preparer()
    changed = 0
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), per_statement):
            chunk = ordered[start : start + per_statement]
            sql = (
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([placeholder] * len(chunk))} "
                f"ON CONFLICT ({conflict}) DO UPDATE SET {assignments}{guard}"
            )
            params = [prep(f, row[f.name]) for row in chunk for f in fields]
            cursor.execute(sql, params)
            changed += max(cursor.rowcount, 0)
    return changed


def _assignment(field: models.Field, table: str, *, keep: bool, merge: bool = False) -> str:
    col = connection.ops.quote_name(field.column)
    if merge:  # stored object, then the incoming members over it
        if connection.vendor == "postgresql":
            return f"{col} = COALESCE({table}.{col}, '{{}}'::jsonb) || EXCLUDED.{col}"
        return f"{col} = json_patch(COALESCE({table}.{col}, '{{}}'), EXCLUDED.{col})"
    if not keep:
        return f"{col} = EXCLUDED.{col}"
    incoming = f"NULLIF(EXCLUDED.{col}, '')" if isinstance(field, models.CharField) else f"EXCLUDED.{col}"
    return f"{col} = COALESCE({incoming}, {table}.{col})"


def _preparer():
    """Field values prepared for the database, each distinct (field, value) pair only once: the
    bookkeeping columns (tenant, stamp, delivery, times) repeat on every row."""
    cache: dict[tuple[str, object], object] = {}

    def prep(field: models.Field, value: object) -> object:
        if value is None or (isinstance(field, _PASS_THROUGH) and not field.is_relation):
            return value
        try:
            key = (field.attname, value)
            if key in cache:
                return cache[key]
        except TypeError:  # unhashable (a JSON object)
            return field.get_db_prep_save(value, connection)
        cache[key] = prepared = field.get_db_prep_save(value, connection)
        return prepared

    return prep
