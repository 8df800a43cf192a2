"""Hand-written SQL for what KooGallery calls most: queryInstance.

It is answered live, at the marketplace's pace, and the ORM's per-call work (compiling the SELECT)
cost more than everything else in the call together. The statement is built once from the models'
metadata, so it follows the models; what it reads is what the ORM reads
(tests/orders/test_statements.py).

- `instances_for_answer`: one SELECT of the columns queryInstance's answer needs, as
  `AnswerRow` tuples (no model instances).

On PostgreSQL the common case (one id) is prepared once per database session (`Prepared`):
parsing and planning it was most of what the server spent on the call.
"""

from __future__ import annotations

import weakref
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from django.db import connection
from django.db.models.expressions import Col

from .models import Instance


class Prepared:
    """A statement PostgreSQL parses and plans once per database session (PREPARE), then runs
    with EXECUTE. The sessions that have it are remembered by their driver connection; a PREPARE
    is not transactional, so it survives a rollback of the transaction it ran in. (A pooler that
    resets sessions behind the application's back — pgbouncer in transaction mode — would need
    this off; the service talks to PostgreSQL directly.)"""

    def __init__(self, name: str, sql, count: int):
        self.name = name
        self.sql = sql  # a callable: the statement with $1…$count
        self.execute = f"EXECUTE {name} (" + ", ".join(["%s"] * count) + ")"
        self.sessions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def run(self, cursor, params: list[Any]) -> None:
        raw = connection.connection
        if raw not in self.sessions:
            cursor.execute(f"PREPARE {self.name} AS {self.sql()}")
            self.sessions[raw] = True
        cursor.execute(self.execute, params)


# --- queryInstance -------------------------------------------------------------------------------


class AnswerRow(NamedTuple):
    """What a queryInstance answer reads of an instance (orders/answers.py, orders/callbacks.py)."""

    instance_id: str
    status: str
    provisioning_state: str
    provisioned_at: datetime | None
    failure_code: str
    front_end_url: str
    admin_url: str
    app_user_name: str
    app_password: str
    app_memo: str
    charging_mode: str
    usage_value: Any
    usage_at: datetime | None
    related_instance_id: str


_ANSWER_FIELDS = [Instance._meta.get_field(name) for name in AnswerRow._fields]
_SELECT = "SELECT {columns} FROM {table} WHERE {column} ".format(
    columns=", ".join(connection.ops.quote_name(f.column) for f in _ANSWER_FIELDS),
    table=connection.ops.quote_name(Instance._meta.db_table),
    column=connection.ops.quote_name(Instance._meta.get_field("instance_id").column),
)


@lru_cache(maxsize=256)
def _select_in(count: int) -> str:
    return _SELECT + "IN (" + ", ".join(["%s"] * count) + ")"


_converters: dict[str, list[tuple[int, list, Col]]] = {}


def _converters_for(vendor: str) -> list[tuple[int, list, Col]]:
    """The database's own value converters, as the ORM applies them (SQLite returns datetimes and
    decimals as text; PostgreSQL's driver needs none)."""
    found = _converters.get(vendor)
    if found is None:
        found = []
        for index, field in enumerate(_ANSWER_FIELDS):
            column = Col(Instance._meta.db_table, field)
            functions = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
            if functions:
                found.append((index, functions, column))
        _converters[vendor] = found
    return found


# One id is the common call: prepared, it is planned once per session (a list of ids is planned
# per call either way — PostgreSQL keeps re-planning `= ANY($1)`).
_ANSWER_ROW = Prepared("orders_answer_row", lambda: _SELECT + "= $1", 1)


def instances_for_answer(instance_ids: list[str]) -> list[AnswerRow]:
    """The known instances among `instance_ids`, in no particular order: one statement."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(_select_in(len(instance_ids)), instance_ids)
        elif len(instance_ids) == 1:
            _ANSWER_ROW.run(cursor, instance_ids)
        else:
            cursor.execute(_SELECT + "= ANY(%s)", [instance_ids])
        rows = cursor.fetchall()
    converters = _converters_for(connection.vendor)
    if converters:
        rows = [_converted(row, converters) for row in rows]
    return [AnswerRow._make(row) for row in rows]


def _converted(row, converters) -> list:
    values = list(row)
    for index, functions, column in converters:
        for function in functions:
            values[index] = function(values[index], column, connection)
    return values
