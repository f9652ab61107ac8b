"""Resources, and the one place that maps the environment (local or production) to them."""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator

import dagster as dg

from batch_training.settings import WAREHOUSE_URL_VAR, Settings
from batch_training.storage import PartitionStore
from batch_training.warehouse import Warehouse, open_warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The DWH holding the source tables (DuckDB file or PostgreSQL). The URL is a secret."""

    url: str

    @contextmanager
    def connect(self) -> Iterator[Warehouse]:
        warehouse = open_warehouse(self.url)
        try:
            yield warehouse
        finally:
            warehouse.close()


class ArtifactStoreResource(dg.ConfigurableResource):
    """Where materialized partitions and artifacts are written (a local folder)."""

    root: str

    def partitions(self) -> PartitionStore:
        return PartitionStore(self.root)


def resources_for(settings: Settings) -> dict[str, object]:
    """Local: the DuckDB file under BATCH_TRAINING_HOME unless a warehouse URL is given in the
    environment. Production: the URL must come from the environment (checked by the settings)."""
    if settings.environment == "production" or settings.warehouse_url_from_env:
        warehouse = WarehouseResource(url=dg.EnvVar(WAREHOUSE_URL_VAR))
    else:
        warehouse = WarehouseResource(url=settings.local_warehouse_url)
    return {
        "warehouse": warehouse,
        "artifacts": ArtifactStoreResource(root=str(settings.data_dir)),
    }
