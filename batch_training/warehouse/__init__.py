"""DWH access (DuckDB, PostgreSQL) and day extraction. No Dagster here."""

from batch_training.warehouse.base import Warehouse, WarehouseError
from batch_training.warehouse.connect import open_warehouse, redact_url

__all__ = ["Warehouse", "WarehouseError", "open_warehouse", "redact_url"]
