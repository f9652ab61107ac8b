"""Run a spec's ingest job in process on an ephemeral instance, against real small data."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from batch_training.defs.ingest import build_ingest_defs, ingest_job_name
from batch_training.defs.resources import (
    ArtifactStoreResource,
    ImageBuilderResource,
    RegistryResource,
    WarehouseResource,
)
from batch_training.spec import TrainingSpec


def ingest_defs(spec: TrainingSpec, warehouse_url: str, data_dir: Path, registry_url: str | None = None,
                image_builder: str = "none", base_image: str | None = None, trainer=None) -> dg.Definitions:
    from batch_training.defs.training.launch import TrainerResource

    resources = {
        "trainer": trainer or TrainerResource(),
        "warehouse": WarehouseResource(url=warehouse_url), "artifacts": ArtifactStoreResource(root=str(data_dir)),
        "registry": RegistryResource(url=registry_url or f"sqlite:///{data_dir.parent / 'registry.db'}"),
        "images": ImageBuilderResource(kind=image_builder, base_image=base_image),
    }
    return dg.Definitions.merge(build_ingest_defs(spec), dg.Definitions(resources=resources))


def run_range(defs: dg.Definitions, spec: TrainingSpec, first: str, last: str,
              instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    job = defs.resolve_job_def(ingest_job_name(spec))
    return job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)


def run_day(defs: dg.Definitions, spec: TrainingSpec, day: str,
            instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def(ingest_job_name(spec))
    return job.execute_in_process(instance=instance, partition_key=day, raise_on_error=False)


def materialized_days(instance: dg.DagsterInstance, spec: TrainingSpec, asset: str) -> list[str]:
    return sorted(instance.get_materialized_partitions(dg.AssetKey([spec.name, asset])))


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    """``raw:schema_drift`` for the main table's checks, ``weather/raw:schema_drift`` for a joined one's."""
    return {f"{'/'.join(e.asset_key.path[1:])}:{e.check_name}": e for e in result.get_asset_check_evaluations()}


def pipeline_defs(spec: TrainingSpec, warehouse_url: str, data_dir: Path, **resources) -> dg.Definitions:
    """Ingest and training assets of a spec, with test resources."""
    from batch_training.defs.training import build_training_defs

    return dg.Definitions.merge(ingest_defs(spec, warehouse_url, data_dir, **resources), build_training_defs(spec))


def run_training(defs: dg.Definitions, spec: TrainingSpec, as_of: str, instance: dg.DagsterInstance,
                 epochs: int | None = None, override_reason: str = "") -> dg.ExecuteInProcessResult:
    from batch_training.defs.training import train_job_name

    run_config = {"ops": {
        f"{spec.name}__trained_model": {"config": {"epochs": epochs}},
        f"{spec.name}__evaluation_report": {"config": {"gate_override_reason": override_reason}},
    }}
    job = defs.resolve_job_def(train_job_name(spec))
    return job.execute_in_process(instance=instance, partition_key=as_of, run_config=run_config, raise_on_error=False)
