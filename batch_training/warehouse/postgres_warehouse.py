"""PostgreSQL through ADBC: results arrive as Arrow over the binary COPY protocol, not row by row.
Errors become typed where they happen (``batch_training.libpq`` says what PostgreSQL's mean)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as pg
import pyarrow as pa

from batch_training.errors import CONFIG, TRANSIENT
from batch_training.libpq import connect_failure_class, sqlstate_class
from batch_training.spec.identifiers import check_identifier, check_table_name, quote_identifier
from batch_training.timestamps import DayKind
from batch_training.urls import redact_key_values
from batch_training.warehouse.base import (
    Warehouse,
    WarehouseConfigError,
    WarehouseError,
    WarehouseQueryError,
    WarehouseUnavailable,
    timezone_literal,
)

_TYPED = {CONFIG: WarehouseConfigError, TRANSIENT: WarehouseUnavailable}


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _query_error(exc: adbc_driver_manager.Error, doing: str) -> WarehouseError:
    found = sqlstate_class(getattr(exc, "sqlstate", None))
    if found is None and isinstance(exc, adbc_driver_manager.OperationalError):
        found = TRANSIENT  # the connection broke before the server could say why
    kind = WarehouseQueryError if found is None else _TYPED.get(found, WarehouseQueryError)
    return kind(f"PostgreSQL {doing} failed: {_first_line(exc)}")


def connect_error(exc: adbc_driver_manager.Error) -> WarehouseError:
    """The typed error of a failed connection (the driver's message names host and port, never the password)."""
    line = redact_key_values(_first_line(exc))
    return _TYPED[connect_failure_class(line)](f"cannot connect to PostgreSQL: {line}")


class PostgresWarehouse(Warehouse):
    kind = "postgresql"
    placeholder = "${}"

    def __init__(self, url: str):
        try:
            self._con = pg.connect(url, autocommit=True)
        except adbc_driver_manager.Error as exc:
            raise connect_error(exc) from None

    def _run(self, sql: str, parameters: tuple, fetch: bool, doing: str = "query") -> pa.Table | None:
        try:
            with self._con.cursor() as cur:
                cur.execute(sql, parameters or None)
                return cur.fetch_arrow_table() if fetch else None
        except adbc_driver_manager.Error as exc:
            raise _query_error(exc, doing) from exc

    def literals(self, lower: object, upper: object) -> tuple[str, str] | None:
        # The ADBC driver streams a statement without bind parameters through its fast COPY path;
        # with parameters it was 2.0x a raw COPY, with literals 1.2x (make bench). The bounds are
        # typed date/datetime values rendered by isoformat(), never text from outside.
        low, high = _literal(lower), _literal(upper)
        return (low, high) if low and high else None

    def day_sql(self, column_sql: str, kind: DayKind, timezone: str) -> str:
        tz = timezone_literal(timezone)
        if kind in (DayKind.DATE, DayKind.NAIVE_LOCAL):
            return f"CAST({column_sql} AS DATE)"
        if kind is DayKind.NAIVE_UTC:  # wall clock in UTC -> instant -> wall clock in the source's zone
            return f"CAST(({column_sql} AT TIME ZONE 'UTC') AT TIME ZONE {tz} AS DATE)"
        return f"CAST({column_sql} AT TIME ZONE {tz} AS DATE)"

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        self._run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", (), fetch=False, doing="begin")
        try:
            yield
        finally:
            try:
                self._run("COMMIT", (), fetch=False, doing="end of the read transaction")
            except WarehouseError:
                pass  # the connection is gone: nothing to end

    def create_index(self, table: str, column: str) -> None:
        check_table_name(table)
        name = quote_identifier(check_identifier(f"{table.rpartition('.')[2]}_{column}_idx"[:63]))
        self._run(f"CREATE INDEX IF NOT EXISTS {name} ON {quote_identifier(table)} ({quote_identifier(column)})", (),
                  fetch=False, doing="index creation")

    def replace_table(self, table: str, data: pa.Table) -> None:
        check_table_name(table)
        schema, _, name = table.rpartition(".")
        try:
            with self._con.cursor() as cur:
                cur.adbc_ingest(name, data, mode="replace", db_schema_name=schema or None)
        except adbc_driver_manager.Error as exc:
            raise _query_error(exc, f"ingest into {table}") from exc

    @contextmanager
    def stream_between(self, table: str, partition_column: str, lower: object, upper: object) -> Iterator[pa.RecordBatchReader]:
        # one COPY, decoded batch by batch as the reader asks (batches of the driver's size hint)
        sql, params = self._range(table, partition_column, lower, upper)
        try:
            with self._con.cursor() as cur:
                cur.execute(sql, params or None)
                yield cur.fetch_record_batch()
        except adbc_driver_manager.Error as exc:
            raise _query_error(exc, f"reading {table}") from exc

    def execute(self, sql: str, parameters: tuple = ()) -> None:
        self._run(sql, parameters, fetch=False)

    def query(self, sql: str, parameters: tuple = (), doing: str = "query") -> pa.Table:
        return self._run(sql, parameters, fetch=True, doing=doing)

    def close(self) -> None:
        try:
            self._con.close()
        except adbc_driver_manager.Error:
            pass  # a connection the server already dropped has nothing left to close


def _literal(value: object) -> str | None:
    """A typed SQL literal for a date, a naive datetime (TIMESTAMP) or an aware one (TIMESTAMPTZ)."""
    if isinstance(value, dt.datetime):
        return f"TIMESTAMPTZ '{value.isoformat()}'" if value.tzinfo is not None else f"TIMESTAMP '{value.isoformat()}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return None
