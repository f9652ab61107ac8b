"""Resources, and the one place that maps the environment (local or production) to them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from batch_training.settings import ALERT_WEBHOOK_VAR, REGISTRY_URL_VAR, WAREHOUSE_URL_VAR, Settings
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


class RegistryResource(dg.ConfigurableResource):
    """The model registry (and failure ledger): SQLite file locally, PostgreSQL in production. A secret."""

    url: str

    def open(self):
        from batch_training.registry import Registry

        return Registry(self.url)


class LedgerResource(dg.ConfigurableResource):
    """The failure ledger, in the registry's database. The URL is a secret."""

    url: str

    def open(self):
        from batch_training.operations.ledger import Ledger

        return Ledger(self.url)


class AlertsResource(dg.ConfigurableResource):
    """Where alerts go: ``log`` (the process log) or ``webhook`` (Slack-compatible JSON POST; the URL is a secret)."""

    kind: str = "log"
    webhook_url: str | None = None

    def sink(self):
        from batch_training.operations.alerts import alert_sink

        return alert_sink(self.kind, self.webhook_url)


class ImageBuilderResource(dg.ConfigurableResource):
    """How the prediction-server image is built: buildah, docker, none (bundle only) or auto."""

    kind: str = "none"
    base_image: str | None = None

    def builder(self):
        from batch_training.images import make_builder

        return make_builder(self.kind)


def resources_for(settings: Settings) -> dict[str, object]:
    """Local: the DuckDB file under BATCH_TRAINING_HOME unless a warehouse URL is given in the
    environment. Production: the URL must come from the environment (checked by the settings)."""
    if settings.environment == "production" or settings.warehouse_url_from_env:
        warehouse = WarehouseResource(url=dg.EnvVar(WAREHOUSE_URL_VAR))
    else:
        warehouse = WarehouseResource(url=settings.local_warehouse_url)
    if settings.environment == "production" or settings.registry_url_from_env:
        registry = RegistryResource(url=dg.EnvVar(REGISTRY_URL_VAR))
    else:
        registry = RegistryResource(url=settings.local_registry_url)
    alerts = AlertsResource(kind=settings.alert_sink,
                            webhook_url=dg.EnvVar(ALERT_WEBHOOK_VAR) if settings.alert_sink == "webhook" else None)
    return {
        "ledger": LedgerResource(url=registry.url),
        "alerts": alerts,
        "warehouse": warehouse,
        "artifacts": ArtifactStoreResource(root=str(settings.data_dir)),
        "registry": registry,
        "images": ImageBuilderResource(kind=settings.image_builder, base_image=settings.base_image),
        "trainer": trainer_for(settings),
    }


def trainer_for(settings: Settings):
    """Where trained_model trains (``defs/training/launch.py``), from the settings."""
    from batch_training.defs.training.launch import TrainerResource

    return TrainerResource(mode=settings.trainer_mode, processes=settings.trainer_processes,
                           timeout_s=settings.trainer_timeout_s, image=settings.trainer_image,
                           namespace=settings.trainer_namespace, gpus=settings.trainer_gpus, cpu=settings.trainer_cpu,
                           memory=settings.trainer_memory, node_selector=settings.node_selector,
                           volume_claim=settings.trainer_volume_claim, home=str(settings.home))
