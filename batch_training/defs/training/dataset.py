"""``<spec>/training_dataset``: the trailing window of cleansed days for as-of day D."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import pyarrow as pa

from batch_training.defs.boundary import failure_boundary
from batch_training.defs.partitions import as_of_partitions, day_of, window_mapping
from batch_training.defs.resources import ArtifactStoreResource
from batch_training.defs.tables import tables
from batch_training.features import window_for
from batch_training.features.dataset import JoinedDays, build_training_data, describe, write_training_data
from batch_training.spec import TrainingSpec
from batch_training.storage import AsOfArtifacts, PartitionStore, atomic_directory, sha256_file


@dataclass(frozen=True)
class CleansedDays:
    """How the training chain and monitoring read a spec's cleansed days from the artifact store."""

    read_day: Callable[[dt.date], pa.Table]
    day_fingerprint: Callable[[dt.date], str]
    joined: JoinedDays


def cleansed_days(store: PartitionStore, spec: TrainingSpec) -> CleansedDays:
    return CleansedDays(
        read_day=lambda day: store.read(spec.name, "cleansed", day),
        day_fingerprint=lambda day: sha256_file(store.path(spec.name, "cleansed", day)),
        joined=JoinedDays(read=lambda join, day: store.read(spec.name, f"{join}/cleansed", day),
                          fingerprint=lambda join, day: sha256_file(store.path(spec.name, f"{join}/cleansed", day))))


def build_dataset_asset(spec: TrainingSpec) -> dg.AssetsDefinition:
    key = dg.AssetKey([spec.name, "training_dataset"])
    deps = [dg.AssetDep(table.key("cleansed"), partition_mapping=window_mapping(spec, table.join))
            for table in tables(spec)]

    @dg.asset(
        key=key,
        partitions_def=as_of_partitions(spec),
        deps=deps,
        group_name=spec.name,
        kinds={"parquet"},
        description=f"Rows of the {spec.split.window_days} cleansed days before the as-of day; the last "
                    f"{spec.split.holdout_days} held out"
                    + (f", joined point-in-time with {', '.join(spec.joins)}" if spec.joins else "")
                    + ", with the derived features. Preprocessing fitted on the training days only "
                    "(preprocessing.json beside the data).",
    )
    def training_dataset(context: dg.AssetExecutionContext, artifacts: ArtifactStoreResource) -> dg.MaterializeResult:
        store = artifacts.partitions()
        with failure_boundary(context, f"building the training dataset as of {context.partition_key}"):
            window = window_for(day_of(context.partition_key), spec.split, spec.source.first_day)
            days = cleansed_days(store, spec)
            data = build_training_data(spec, window, days.read_day, days.day_fingerprint, days.joined)
            folder = AsOfArtifacts.of(store, spec.name, context.partition_key).dataset
            with atomic_directory(folder) as tmp:
                write_training_data(data, tmp)
        info = describe(data)
        for warning in data.warnings:
            context.log.warning(warning)
        context.log.info(f"as of {info['as_of']}: {info['rows_train']} training rows over {len(window.train_days)} days, "
                         f"{info['rows_holdout']} holdout rows over {len(window.holdout_days)} days")
        return dg.MaterializeResult(
            metadata={
                "rows_train": info["rows_train"], "rows_holdout": info["rows_holdout"],
                "rows_without_target": info["rows_without_target"],
                "train_days": f"{info['train_days'][0]}..{info['train_days'][1]} ({info['train_days'][2]} days)",
                "holdout_days": f"{info['holdout_days'][0]}..{info['holdout_days'][1]} ({info['holdout_days'][2]} days)",
                "data_version": info["data_version"],
                "warnings": dg.MetadataValue.json(data.warnings),
                **{f"{name}_unmatched_rows": sum(part[name]["unmatched"] + part[name]["too_old"]
                                                 for part in data.joins.values()) for name in spec.joins},
                **({"joins": dg.MetadataValue.json(data.joins)} if spec.joins else {}),
                "preprocessing": dg.MetadataValue.json(data.preprocessor.to_dict()),
                "path": dg.MetadataValue.path(str(folder)),
            },
            data_version=dg.DataVersion(data.data_version),
        )

    return training_dataset
