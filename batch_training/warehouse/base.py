"""The DWH interface: read a span of days into Arrow, replace a table from Arrow.

Implementations: DuckDB (embedded default) and PostgreSQL (through ADBC). Both build SQL only from
validated, quoted identifiers; values always travel as bound parameters.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod

import pyarrow as pa

from batch_training.spec.identifiers import check_identifier, check_table_name, quote_identifier


class WarehouseError(RuntimeError):
    """The DWH could not answer (connection refused, reset, timeout, ...): worth retrying."""


def day_range_sql(table: str, partition_column: str, placeholder: str = "?",
                  literals: tuple[str, str] | None = None) -> str:
    """``SELECT *`` of the rows whose partition value lies in [lower, upper), in partition order
    (so a range splits into days without a sort): bound parameters, or typed literals the caller
    rendered from date/datetime values."""
    col = quote_identifier(check_identifier(partition_column, "partition column"))
    lower, upper = literals or (placeholder.format(1), placeholder.format(2))
    return (f"SELECT * FROM {quote_identifier(check_table_name(table))} WHERE {col} >= {lower} AND {col} < {upper} "
            f"ORDER BY {col}")


class Warehouse(ABC):
    """A connection to one DWH. Use as a context manager, or call ``close()``."""

    #: short name for logs and metadata ("duckdb", "postgresql"); never the URL (it may hold a password)
    kind: str = "?"

    @abstractmethod
    def read_between(self, table: str, partition_column: str, lower: object, upper: object) -> pa.Table:
        """All columns of the rows with ``lower <= partition_column < upper``, in one query."""

    @abstractmethod
    def replace_table(self, table: str, data: pa.Table) -> None:
        """Drop ``table`` if present and create it with ``data``'s rows and schema."""

    @abstractmethod
    def execute(self, sql: str, parameters: tuple = ()) -> None:
        """Run a statement that returns nothing (DDL, UPDATE, ...)."""

    @abstractmethod
    def query(self, sql: str, parameters: tuple = ()) -> pa.Table:
        """Run a query and return its rows as Arrow."""

    @abstractmethod
    def close(self) -> None: ...

    def create_index(self, table: str, column: str) -> None:
        """An index on the partition column, so a day range does not scan the whole table."""

    def read_days(self, table: str, partition_column: str, first: dt.date, last: dt.date) -> pa.Table:
        """Rows of the days ``first``..``last`` (inclusive) of a DATE partition column."""
        return self.read_between(table, partition_column, first, last + dt.timedelta(days=1))

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
