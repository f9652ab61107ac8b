"""Turn a warehouse URL into a connection.

``duckdb:///abs/path.duckdb`` or ``duckdb:relative.duckdb`` (or a bare ``*.duckdb`` path) opens
DuckDB; ``postgresql://user:pass@host:port/db`` opens PostgreSQL. URLs may carry passwords: they
are secrets, so only ``redact_url`` output may appear in logs or metadata.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from batch_training.warehouse.base import Warehouse


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


def redact_url(url: str) -> str:
    """The URL without its password, for logs and metadata."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else "***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))
