"""Turn a warehouse URL into a connection.

``duckdb:///abs/path.duckdb`` or ``duckdb:relative.duckdb`` (or a bare ``*.duckdb`` path) opens
DuckDB; ``postgresql://user:pass@host:port/db`` opens PostgreSQL. URLs may carry passwords: they
are secrets, so only ``redact_url`` output may appear in logs or metadata.
"""

from __future__ import annotations

from batch_training.urls import redact_url
from batch_training.warehouse.base import Warehouse

__all__ = ["open_warehouse", "redact_url"]


def open_warehouse(url: str, read_only: bool = False) -> Warehouse:
    if url.startswith(("postgresql://", "postgres://")):
        from batch_training.warehouse.postgres_warehouse import PostgresWarehouse

        return PostgresWarehouse(url)
    from batch_training.warehouse.duckdb_warehouse import DuckDBWarehouse

    if url.startswith("duckdb://"):
        return DuckDBWarehouse(url.removeprefix("duckdb://"), read_only=read_only)
    if url.startswith("duckdb:"):
        return DuckDBWarehouse(url.removeprefix("duckdb:"), read_only=read_only)
    if "://" not in url and (url.endswith((".duckdb", ".db")) or url == ":memory:"):  # a path, not a URL
        return DuckDBWarehouse(url, read_only=read_only)
    raise ValueError(f"unsupported warehouse URL scheme in {redact_url(url)!r} (use duckdb:// or postgresql://)")
