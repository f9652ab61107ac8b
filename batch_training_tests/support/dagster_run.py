"""Run a spec's ingest job in process on an ephemeral instance, against real small data."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from batch_training.defs.ingest import build_ingest_defs, ingest_job_name
from batch_training.defs.resources import ArtifactStoreResource, WarehouseResource
from batch_training.spec import TrainingSpec


def ingest_defs(spec: TrainingSpec, warehouse_url: str, data_dir: Path) -> dg.Definitions:
    resources = {"warehouse": WarehouseResource(url=warehouse_url), "artifacts": ArtifactStoreResource(root=str(data_dir))}
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
    return {f"{e.asset_key.path[-1]}:{e.check_name}": e for e in result.get_asset_check_evaluations()}
