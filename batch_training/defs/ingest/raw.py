"""``<spec>/raw``: each day of the source table exactly as the DWH holds it."""

import dagster as dg

from batch_training.cleansing import checks
from batch_training.defs.checks import check_result
from batch_training.defs.partitions import daily_partitions, day_of
from batch_training.defs.resources import ArtifactStoreResource, WarehouseResource
from batch_training.defs.retries import transient_only
from batch_training.spec import TrainingSpec
from batch_training.warehouse.extract import extract_days


def build_raw_asset(spec: TrainingSpec, retry: dg.RetryPolicy | None = None) -> dg.AssetsDefinition:
    key = dg.AssetKey([spec.name, "raw"])
    partitions = daily_partitions(spec)
    is_timestamp = spec.columns[spec.source.partition_column].type == "timestamp"

    @dg.asset(
        key=key,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=spec.name,
        kinds={"parquet"},
        retry_policy=retry,
        description=f"Each day of DWH table `{spec.source.table}` as the DWH holds it (all columns, "
                    f"untyped text stays text), split on `{spec.source.partition_column}`.",
        check_specs=[
            dg.AssetCheckSpec("schema_drift", asset=key, blocking=True, partitions_def=partitions,
                              description="Every contract column present, none retyped, none unexpected."),
            dg.AssetCheckSpec("not_empty", asset=key, blocking=True, partitions_def=partitions,
                              description=f"At least {spec.quality.min_rows} rows a day, unless the spec allows empty days."),
        ],
    )
    def raw(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
            artifacts: ArtifactStoreResource) -> dg.MaterializeResult:
        keys = list(context.partition_keys)
        store = artifacts.partitions()
        drift: dict[str, checks.Verdict] = {}
        empty: dict[str, checks.Verdict] = {}
        total = 0
        with transient_only(f"extracting {spec.source.table}"), warehouse.connect() as wh:
            context.log.info(f"extracting {len(keys)} day(s) of {spec.source.table} from {wh.kind}")
            for day, table in extract_days(wh, spec.source, day_of(keys[0]), day_of(keys[-1]), is_timestamp):
                pk = day.isoformat()
                path = store.write(spec.name, "raw", day, table)
                drift[pk] = checks.schema_drift(table.schema, spec)
                empty[pk] = checks.empty_day(table.num_rows, spec)
                total += table.num_rows
                context.add_asset_metadata({
                    "rows": table.num_rows,
                    "dagster/row_count": table.num_rows,
                    "path": dg.MetadataValue.path(str(path)),
                    "columns": dg.MetadataValue.json({f.name: str(f.type) for f in table.schema}),
                }, partition_key=pk)
        return dg.MaterializeResult(
            metadata={"warehouse": wh.kind, **({"run_days": len(keys), "run_rows": total} if len(keys) > 1 else {})},
            check_results=[check_result("schema_drift", key, drift), check_result("not_empty", key, empty)],
        )

    return raw
