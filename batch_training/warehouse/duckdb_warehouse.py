"""DuckDB: the embedded default DWH, one file under BATCH_TRAINING_HOME."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from batch_training.spec.identifiers import check_table_name, quote_identifier
from batch_training.warehouse.base import Warehouse, WarehouseError, day_range_sql


class DuckDBWarehouse(Warehouse):
    kind = "duckdb"

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.IOException as exc:  # e.g. the file is locked by another writer
            raise WarehouseError(f"cannot open DuckDB file {self.path}: {exc}") from exc

    def read_between(self, table, partition_column, lower, upper) -> pa.Table:
        sql = day_range_sql(table, partition_column)
        return self._con.sql(sql, params=[lower, upper]).to_arrow_table()

    def replace_table(self, table: str, data: pa.Table) -> None:
        name = quote_identifier(check_table_name(table))
        self._con.register("_incoming", data)
        try:
            self._con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _incoming")
        finally:
            self._con.unregister("_incoming")

    def execute(self, sql: str, parameters: tuple = ()) -> None:
        self._con.execute(sql, list(parameters))

    def query(self, sql: str, parameters: tuple = ()) -> pa.Table:
        return self._con.sql(sql, params=list(parameters) or None).to_arrow_table()

    def create_index(self, table: str, column: str) -> None:
        pass  # DuckDB prunes row groups by their min/max statistics; an ART index would not help a range scan

    def close(self) -> None:
        self._con.close()
