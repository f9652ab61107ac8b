"""DuckDB: the embedded default DWH, one file under BATCH_TRAINING_HOME."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from batch_training.spec.identifiers import check_table_name, quote_identifier
from batch_training.timestamps import DayKind
from batch_training.warehouse.base import (
    Warehouse,
    WarehouseConfigError,
    WarehouseError,
    WarehouseQueryError,
    WarehouseUnavailable,
    timezone_literal,
)

# Missing tables or columns, a file that does not exist, a refused permission: the settings are wrong.
_CONFIG = (duckdb.CatalogException, duckdb.BinderException, duckdb.PermissionException)
_BUSY = (duckdb.TransactionException, duckdb.InterruptException, duckdb.OutOfMemoryException)
#: rows per record batch of a streamed read
STREAM_BATCH_ROWS = 65_536


def _typed(exc: duckdb.Error, doing: str) -> WarehouseError:
    text = f"{doing}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
    if isinstance(exc, _CONFIG) or (isinstance(exc, duckdb.IOException) and "does not exist" in str(exc)):
        return WarehouseConfigError(text)
    if isinstance(exc, (duckdb.IOException, *_BUSY)):  # e.g. the file is locked by another writer
        return WarehouseUnavailable(text)
    return WarehouseQueryError(text)


class DuckDBWarehouse(Warehouse):
    kind = "duckdb"

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = str(path)
        if self.path != ":memory:" and not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.Error as exc:
            raise _typed(exc, f"cannot open DuckDB file {self.path}") from exc

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except duckdb.Error as exc:
            raise _typed(exc, doing) from exc

    def day_sql(self, column_sql: str, kind: DayKind, timezone: str) -> str:
        tz = timezone_literal(timezone)
        if kind in (DayKind.DATE, DayKind.NAIVE_LOCAL):
            return f"CAST({column_sql} AS DATE)"
        if kind is DayKind.NAIVE_UTC:  # wall clock in UTC -> instant -> wall clock in the source's zone
            return f"CAST(timezone({tz}, timezone('UTC', {column_sql})) AS DATE)"
        return f"CAST(timezone({tz}, {column_sql}) AS DATE)"

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        with self._errors("starting a read transaction"):
            self._con.begin()
        try:
            yield
        finally:
            self._con.rollback()  # read only: nothing to keep

    def replace_table(self, table: str, data: pa.Table) -> None:
        name = quote_identifier(check_table_name(table))
        self._con.register("_incoming", data)
        try:
            with self._errors(f"replacing {table}"):
                self._con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _incoming")
        finally:
            self._con.unregister("_incoming")

    def execute(self, sql: str, parameters: tuple = ()) -> None:
        with self._errors("running a statement"):
            self._con.execute(sql, list(parameters))

    @contextmanager
    def stream_between(self, table: str, partition_column: str, lower: object, upper: object) -> Iterator[pa.RecordBatchReader]:
        sql, params = self._range(table, partition_column, lower, upper)
        with self._errors(f"reading {table}"):
            reader = self._con.sql(sql, params=list(params) or None).to_arrow_reader(STREAM_BATCH_ROWS)
            try:
                yield reader
            finally:  # a reader left open keeps the connection busy (a reader that stopped early)
                reader.close()

    def query(self, sql: str, parameters: tuple = (), doing: str = "running a query") -> pa.Table:
        with self._errors(doing):
            return self._con.sql(sql, params=list(parameters) or None).to_arrow_table()

    def create_index(self, table: str, column: str) -> None:
        pass  # DuckDB prunes row groups by their min/max statistics; an ART index would not help a range scan

    def close(self) -> None:
        self._con.close()
