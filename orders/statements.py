"""Hand-written SQL for the two calls KooGallery makes most: queryInstance and a fresh newInstance.

Both are answered live, at the marketplace's pace, and the ORM's per-call work (compiling the
SELECT, four model saves) cost more than everything else in them together. The statements are
built once from the models' metadata, so they follow the models; what they write and read is the
same as the ORM path's, which stays for every other case (tests/orders/test_statements.py).

- `instances_for_answer`: one SELECT of the columns queryInstance's answer needs, as
  `AnswerRow` tuples (no model instances).
- `insert_purchase`: on PostgreSQL, a new instance with its creation log row, its purchase order
  and its provisioning job — and, for a fresh V2 newInstance, the call's journal row — in ONE
  statement (a data-modifying CTE): `INSERT … ON CONFLICT DO NOTHING` decides, under the unique
  constraints, whether this call creates the instance (house style 3); when it does not, nothing
  else is written.

On PostgreSQL both are prepared once per database session (`Prepared`): parsing and planning them
was most of what the server spent on the call.
"""

from __future__ import annotations

import json
import re
import weakref
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection
from django.db.models import CharField, Field, JSONField
from django.db.models.expressions import Col

from marketplace_isv.journal import COLUMNS as JOURNAL_COLUMNS
from marketplace_isv.journal import row_params as journal_params
from marketplace_isv.models import Delivery

from .inserts import fit_text
from .models import Instance, InstanceOrder, Job, Provisioning, Status, Transition
from .outbox import CHANNEL


class Prepared:
    """A statement PostgreSQL parses and plans once per database session (PREPARE), then runs
    with EXECUTE. The sessions that have it are remembered by their driver connection; a PREPARE
    is not transactional, so it survives a rollback of the transaction it ran in. Behind a pooler
    in transaction mode (ISV_DB_TRANSACTION_POOLER) a session is not ours from one transaction to
    the next: the statement is then sent whole each time, parsed and planned per call."""

    def __init__(self, name: str, sql, count: int):
        self.name = name
        self.sql = sql  # a callable: the statement with $1…$count, each once and in that order
        self.count = count
        self.execute = f"EXECUTE {name} (" + ", ".join(["%s"] * count) + ")"
        self.sessions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._plain: str | None = None

    def run(self, cursor, params: list[Any]) -> None:
        if settings.ISV_DB_TRANSACTION_POOLER:
            cursor.execute(self.plain(), params)
            return
        raw = connection.connection
        if raw not in self.sessions:
            cursor.execute(f"PREPARE {self.name} AS {self.sql()}")
            self.sessions[raw] = True
        cursor.execute(self.execute, params)

    def plain(self) -> str:
        """The statement with the driver's placeholders instead of $1…$count."""
        if self._plain is None:
            sql = self.sql()
            numbers = [int(n) for n in re.findall(r"\$(\d+)", sql)]
            if numbers != list(range(1, self.count + 1)) or "%" in sql:
                raise ValueError(f"{self.name}: $1…${self.count} must each appear once, in order, and no %")
            self._plain = re.sub(r"\$\d+", "%s", sql)
        return self._plain


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


# --- newInstance: one statement on PostgreSQL ----------------------------------------------------


def _columns(model) -> list[Field]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


class _Table:
    """A table's insert: every column (the database has no defaults of its own), the ORM's
    default for each, the time for auto_now(_add) columns, and the values given per call."""

    def __init__(self, model, overrides: dict[str, Any]):
        self.model = model
        self.fields = _columns(model)
        self.names = [f.attname for f in self.fields]
        self.index = {name: i for i, name in enumerate(self.names)}
        self.defaults = [overrides[f.attname] if f.attname in overrides else f.get_default() for f in self.fields]
        # A callable default (JSONField(default=dict)) gives each row an object of its own.
        self.fresh = [(i, f) for i, f in enumerate(self.fields) if f.has_default() and callable(f.default)]
        self.clock = [
            i for i, f in enumerate(self.fields) if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        ]
        self.json = [i for i, f in enumerate(self.fields) if isinstance(f, JSONField)]
        self.limits = {f.attname: f.max_length for f in self.fields if isinstance(f, CharField) and f.max_length}

    def row(self, values: dict[str, Any], now: datetime) -> list[Any]:
        row = list(self.defaults)
        for i, f in self.fresh:
            row[i] = f.get_default()
        for i in self.clock:
            row[i] = now
        index, limits = self.index, self.limits
        for name, value in values.items():
            # orders.inserts.fitted: an over-long field is cut (a key keeps a digest), never a
            # database error
            if isinstance(value, str) and name in limits:
                value = fit_text(name, value, limits[name])
            row[index[name]] = value
        return row

    def params(self, row: list[Any]) -> list[Any]:
        params = list(row)
        for i in self.json:
            if params[i] is not None:
                params[i] = json.dumps(params[i])
        return params

    def quoted(self) -> str:
        return ", ".join(connection.ops.quote_name(f.column) for f in self.fields)


_INSTANCES = _Table(Instance, {"status": Status.ACTIVE, "provisioning_state": Provisioning.PENDING})
_TRANSITIONS = _Table(Transition, {})  # orders.states.log_created_values: every column
_ORDERS = _Table(InstanceOrder, {"kind": InstanceOrder.Kind.PURCHASE})
_JOBS = _Table(Job, {"kind": Job.Kind.PROVISION, "state": Job.State.PENDING})


def _dependent(alias: str, table: _Table, first: int, returning: str = "") -> tuple[str, int]:
    """`alias AS (INSERT INTO table (…) SELECT i.id, $n, … FROM i)`: one row per instance inserted."""
    quote = connection.ops.quote_name
    values, n = [], first
    for f in table.fields:
        if f.attname == "instance_id":
            values.append("i.id")
        else:
            values.append(f"${n}")
            n += 1
    sql = (
        f"{alias} AS (INSERT INTO {quote(table.model._meta.db_table)} ({table.quoted()}) "
        f"SELECT {', '.join(values)} FROM i{returning})"
    )
    return sql, n


def _journal_clause(first: int) -> tuple[str, int]:
    """`d AS (INSERT INTO <the journal> (…) SELECT $first, … FROM i)`: the call's journal row,
    written only if the instance was (pipeline.OneStatement)."""
    holders = ", ".join(f"${n}" for n in range(first, first + len(JOURNAL_COLUMNS)))
    sql = f"d AS (INSERT INTO {Delivery._meta.db_table} ({', '.join(JOURNAL_COLUMNS)}) SELECT {holders} FROM i)"
    return sql, first + len(JOURNAL_COLUMNS)


def _purchase_sql(journaled: bool = False) -> str:
    quote = connection.ops.quote_name
    count = len(_INSTANCES.fields)
    holders = ", ".join(f"${n}" for n in range(1, count + 1))
    instances = (
        f"i AS (INSERT INTO {quote(Instance._meta.db_table)} ({_INSTANCES.quoted()}) VALUES ({holders}) "
        f"ON CONFLICT DO NOTHING RETURNING {quote(Instance._meta.pk.column)})"
    )
    transitions, n = _dependent("t", _TRANSITIONS, count + 1)
    orders, n = _dependent("o", _ORDERS, n)
    jobs, n = _dependent("j", _JOBS, n, f" RETURNING {quote(Job._meta.pk.column)}")
    clauses = [instances, transitions, orders, jobs]
    if journaled:
        journal, n = _journal_clause(n)
        clauses.append(journal)
    # The NOTIFY goes with the commit (orders.outbox); only when a job was written and asked for.
    return (
        f"WITH {', '.join(clauses)} "
        f"SELECT i.id, j.id, CASE WHEN ${n} THEN pg_notify('{CHANNEL}', '') END FROM i CROSS JOIN j"
    )


_PURCHASE_PARAMS = len(_INSTANCES.fields) + len(_TRANSITIONS.fields) + len(_ORDERS.fields) + len(_JOBS.fields) - 3 + 1
_PURCHASE = Prepared("orders_insert_purchase", _purchase_sql, _PURCHASE_PARAMS)
_PURCHASE_JOURNALED = Prepared(
    "orders_insert_purchase_journaled", lambda: _purchase_sql(journaled=True), _PURCHASE_PARAMS + len(JOURNAL_COLUMNS)
)


def _dependent_params(table: _Table, values: dict[str, Any], now: datetime) -> list[Any]:
    row = table.params(table.row(values, now))
    del row[table.index["instance_id"]]
    return row


class Inserted(NamedTuple):
    instance: Instance
    job_id: int


def insert_purchase(
    instance: dict[str, Any],
    transition: dict[str, Any],
    order: dict[str, Any],
    job: dict[str, Any],
    *,
    now: datetime,
    notify: bool,
    journal: dict[str, Any] | None = None,
) -> Inserted | None:
    """Insert a new instance and, only if it was inserted, its rows in the other three tables
    (PostgreSQL only) — and the call's journal row, when given (marketplace_isv.journal values).
    Returns None when a unique constraint already held a row for the instance: nothing is written.

    Each dict names the columns (attnames) that differ from the ORM's defaults; auto_now(_add)
    columns get `now`."""
    row = _INSTANCES.row(instance, now)
    params = _INSTANCES.params(row)
    params += _dependent_params(_TRANSITIONS, transition, now)
    params += _dependent_params(_ORDERS, order, now)
    params += _dependent_params(_JOBS, job, now)
    if journal is not None:
        params += journal_params([journal])
    params.append(notify)
    with connection.cursor() as cursor:
        (_PURCHASE if journal is None else _PURCHASE_JOURNALED).run(cursor, params)
        found = cursor.fetchone()
    if found is None:
        return None
    row.insert(0, found[0])
    created = Instance.from_db(connection.alias, ["id", *_INSTANCES.names], row)
    return Inserted(created, found[1])
