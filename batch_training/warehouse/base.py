"""The DWH interface: read a span of days into Arrow, count them, replace a table from Arrow.

Implementations: DuckDB (embedded default) and PostgreSQL (through ADBC). Both build SQL only from
validated, quoted identifiers; values travel as bound parameters or as typed literals rendered from
date/datetime values, never as text from outside.

Errors are typed (``batch_training.errors``): ``WarehouseUnavailable`` (transient: refused, reset,
timed out, restarting), ``WarehouseConfigError`` (wrong credentials, a database, table or column
that does not exist, a bad connection option) and ``WarehouseQueryError`` (anything else: a bug).
"""

from __future__ import annotations

import datetime as dt
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import pyarrow as pa

from batch_training.errors import CODE, CONFIG, TRANSIENT, PlatformError
from batch_training.spec.identifiers import check_identifier, check_table_name, quote_identifier
from batch_training.timestamps import DayKind


class WarehouseError(PlatformError):
    """The DWH could not answer as asked. Subclasses say why; this base is transient."""

    failure_class = TRANSIENT


class WarehouseUnavailable(WarehouseError):
    """Connection refused, reset or timed out, a server starting up or shutting down: worth retrying."""

    failure_class = TRANSIENT


class WarehouseConfigError(WarehouseError):
    """Authentication or authorization failed, or a database, schema, table or column does not exist,
    or a connection option is invalid: the same every time until the settings are fixed."""

    failure_class = CONFIG
    hint = "check BATCH_TRAINING_WAREHOUSE_URL (user, password, database, options) and the spec's table"


class WarehouseQueryError(WarehouseError):
    """The DWH refused a statement for another reason."""

    failure_class = CODE


_TIMEZONE = re.compile(r"^[A-Za-z0-9_+\-/]{1,64}$")


def timezone_literal(timezone: str) -> str:
    """A timezone name as a SQL string literal (names are IANA: letters, digits, ``_+-/``)."""
    if not _TIMEZONE.fullmatch(timezone):
        raise ValueError(f"{timezone!r} is not a timezone name")
    return f"'{timezone}'"


def day_range_sql(table: str, partition_column: str, placeholder: str = "?",
                  literals: tuple[str, str] | None = None, select: str = "*", order: bool = True) -> str:
    """``SELECT <select>`` of the rows whose partition value lies in [lower, upper), in partition
    order (so a range splits into days without a sort): bound parameters, or typed literals the
    caller rendered from date/datetime values."""
    col = quote_identifier(check_identifier(partition_column, "partition column"))
    lower, upper = literals or (placeholder.format(1), placeholder.format(2))
    sql = f"SELECT {select} FROM {quote_identifier(check_table_name(table))} WHERE {col} >= {lower} AND {col} < {upper}"
    return sql + (f" ORDER BY {col}" if order else "")


def _range_index(col: str, uppers: list[str], offset: int) -> str:
    """SQL for the index of the first of ``uppers`` (ascending) that ``col`` lies below, as a binary
    search: log2(n) comparisons a row instead of n."""
    if len(uppers) == 1:
        return str(offset)
    half = len(uppers) // 2
    return (f"CASE WHEN {col} < {uppers[half - 1]} THEN {_range_index(col, uppers[:half], offset)} "
            f"ELSE {_range_index(col, uppers[half:], offset + half)} END")


class Warehouse(ABC):
    """A connection to one DWH. Use as a context manager, or call ``close()``.

    A dialect implements ``query``/``execute`` (with its typed errors), ``day_sql``, ``snapshot``,
    ``replace_table`` and ``close``; reading and counting ranges of days are built on them here.
    """

    #: short name for logs and metadata ("duckdb", "postgresql"); never the URL (it may hold a password)
    kind: str = "?"
    #: how this dialect's driver numbers bound parameters ("?" or "${}")
    placeholder: str = "?"

    @abstractmethod
    def query(self, sql: str, parameters: tuple = (), doing: str = "query") -> pa.Table:
        """Run a query and return its rows as Arrow."""

    @abstractmethod
    def execute(self, sql: str, parameters: tuple = ()) -> None:
        """Run a statement that returns nothing (DDL, UPDATE, ...)."""

    @abstractmethod
    def day_sql(self, column_sql: str, kind: DayKind, timezone: str) -> str:
        """This dialect's SQL for the local calendar day of a quoted column, in the meaning of ``kind``."""

    @abstractmethod
    def replace_table(self, table: str, data: pa.Table) -> None:
        """Drop ``table`` if present and create it with ``data``'s rows and schema."""

    @abstractmethod
    def close(self) -> None: ...

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Statements inside see one consistent state of the DWH (a read-only transaction), so a
        read and its count agree even while the DWH is being loaded."""
        yield

    def create_index(self, table: str, column: str) -> None:  # noqa: B027 - optional: a no-op where indexes do not apply
        """An index on the partition column, so a day range does not scan the whole table."""

    def literals(self, lower: object, upper: object) -> tuple[str, str] | None:
        """Typed SQL literals for the bounds, when this dialect prefers them to bound parameters."""
        return None

    def _range(self, table: str, column: str, lower: object, upper: object, **kwargs) -> tuple[str, tuple]:
        literals = self.literals(lower, upper)
        sql = day_range_sql(table, column, self.placeholder, literals=literals, **kwargs)
        return sql, (() if literals else (lower, upper))

    def read_between(self, table: str, partition_column: str, lower: object, upper: object) -> pa.Table:
        """All columns of the rows with ``lower <= partition_column < upper``, in one query."""
        return self.query(*self._range(table, partition_column, lower, upper), doing=f"reading {table}")

    def count_between(self, table: str, partition_column: str, lower: object, upper: object) -> int:
        """The DWH's own ``count(*)`` of the rows with ``lower <= partition_column < upper``."""
        sql, params = self._range(table, partition_column, lower, upper, select="count(*) AS n", order=False)
        return int(self.query(sql, params, doing=f"counting {table}").column("n")[0].as_py())

    @abstractmethod
    def stream_between(self, table: str, partition_column: str, lower: object, upper: object
                       ) -> AbstractContextManager[pa.RecordBatchReader]:
        """The rows of ``read_between`` as record batches while the query runs, in partition order
        (memory: a batch), as a context manager; the connection serves nothing else until it ends."""

    def count_chunks(self, table: str, partition_column: str, bounds: list[tuple[object, object]], kind: DayKind,
                     timezone: str) -> list[dict[str, int]]:
        """For each of consecutive ranges ``[(lower, upper), ...]`` (each upper the next lower), the
        DWH's own ``count(*)`` of its rows by the day the DWH gives them: one statement, one scan.
        A range's total is the sum of its counts (the rows between its bounds, whatever their day)."""
        col = quote_identifier(check_identifier(partition_column, "partition column"))
        # the boundaries between the ranges, then the outer bounds
        values: list[object] = [upper for _, upper in bounds[:-1]] + [bounds[0][0], bounds[-1][1]]
        literals = [self.literals(v, v) for v in values]  # (v as SQL, v as SQL), or None
        if all(literals):  # typed literals (PostgreSQL): a statement with no parameters
            sql_values, params = [pair[0] for pair in literals if pair is not None], ()
        else:
            # numbered ($1, $2, ...: both dialects take them), as the search below repeats and reorders them
            sql_values, params = [f"${i + 1}" for i in range(len(values))], tuple(values)
        *inner, low, high = sql_values
        day = self.day_sql(col, kind, timezone)
        sql = (f"SELECT {_range_index(col, [*inner, high], 0)} AS i, {day} AS d, count(*) AS n "
               f"FROM {quote_identifier(check_table_name(table))} "
               f"WHERE {col} >= {low} AND {col} < {high} GROUP BY 1, 2")
        rows = self.query(sql, params, doing=f"counting {table}")
        counts: list[dict[str, int]] = [{} for _ in bounds]
        for i, d, n in zip(rows.column("i").to_pylist(), rows.column("d").to_pylist(), rows.column("n").to_pylist()):
            counts[int(i)][d.isoformat()] = int(n)
        return counts

    def count_by_day(self, table: str, partition_column: str, lower: object, upper: object,
                     kind: DayKind, timezone: str) -> dict[str, int]:
        """``{day: count(*)}`` of the range, each row's day computed by the DWH itself."""
        day = self.day_sql(quote_identifier(check_identifier(partition_column, "partition column")), kind, timezone)
        inner, params = self._range(table, partition_column, lower, upper, select=f"{day} AS d", order=False)
        rows = self.query(f"SELECT d, count(*) AS n FROM ({inner}) AS days GROUP BY d", params,
                          doing=f"counting {table} by day")
        return {d.isoformat(): int(n) for d, n in zip(rows.column("d").to_pylist(), rows.column("n").to_pylist())}

    def schema_of(self, table: str) -> pa.Schema:
        """The table's columns as Arrow types (a query that returns no rows)."""
        sql = f"SELECT * FROM {quote_identifier(check_table_name(table))} LIMIT 0"
        return self.query(sql, (), doing=f"reading the columns of {table}").schema

    def read_days(self, table: str, partition_column: str, first: dt.date, last: dt.date) -> pa.Table:
        """Rows of the days ``first``..``last`` (inclusive) of a DATE partition column."""
        return self.read_between(table, partition_column, first, last + dt.timedelta(days=1))

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
