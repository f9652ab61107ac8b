"""``<spec>/raw``: each day of the source table exactly as the DWH holds it, with the DWH's own
count of every day checked against what was written."""

import dagster as dg

from batch_training.arrow_memory import prefer_jemalloc
from batch_training.cleansing import checks
from batch_training.cleansing.schema_reference import SchemaReference, type_name
from batch_training.defs.boundary import StepRetries, failure_boundary
from batch_training.defs.checks import check_result
from batch_training.defs.days import RangeProgress
from batch_training.defs.partitions import daily_partitions, day_of
from batch_training.defs.resources import ArtifactStoreResource, WarehouseResource
from batch_training.defs.schemas import COLUMN_SCHEMA, contract_schema, schema_describer
from batch_training.defs.tables import Table
from batch_training.warehouse.extract import extract_chunks

RAW_CHECKS = ("schema_drift", "not_empty", "conservation")


def build_raw_asset(table: Table, retries: StepRetries | None = None) -> dg.AssetsDefinition:
    key = table.key("raw")
    spec = table.contract
    partitions = daily_partitions(table.spec)
    source = spec.source
    name = table.spec.name

    @dg.asset(
        key=key,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=name,
        kinds={"parquet"},
        metadata={COLUMN_SCHEMA: contract_schema(spec, "raw")},
        description=f"Each day of DWH table `{source.table}` as the DWH holds it (all columns, untyped text "
                    f"stays text), split on `{source.partition_column}` by its local day in {source.timezone}.",
        check_specs=[
            dg.AssetCheckSpec("schema_drift", asset=key, blocking=True, partitions_def=partitions,
                              description="Every contract column present, none retyped (against its declared "
                                          "raw_type or the type first seen), none unexpected."),
            dg.AssetCheckSpec("not_empty", asset=key, blocking=True, partitions_def=partitions,
                              description=f"At least {spec.quality.min_rows} rows a day, unless the spec allows empty days."),
            dg.AssetCheckSpec("conservation", asset=key, blocking=True, partitions_def=partitions,
                              description="The rows written for each day are exactly the rows the DWH itself counts "
                                          "for that day (count(*) in the same snapshot as the read)."),
        ],
    )
    def raw(context: dg.AssetExecutionContext, warehouse: WarehouseResource, artifacts: ArtifactStoreResource):
        prefer_jemalloc()
        keys = list(context.partition_keys)
        store = artifacts.partitions()
        stored = table.stored("raw")
        reference = SchemaReference(store.reference_path(name, table.stored("raw")))
        progress = RangeProgress(RAW_CHECKS)
        describe = schema_describer(spec, "raw")
        total = 0
        kind = "?"
        try:
            with failure_boundary(context, f"extracting {source.table}", retries), warehouse.connect() as wh:
                kind = wh.kind
                context.log.info(f"extracting {len(keys)} day(s) of {source.table} from {wh.kind}")
                for chunk in extract_chunks(wh, source, day_of(keys[0]), day_of(keys[-1])):
                    # the chunk's days written together: all of them on disk, or none replaced
                    paths = store.write_days(name, {(stored, day): rows for day, rows in chunk.days.items()})
                    for day, rows in chunk.days.items():
                        pk = day.isoformat()
                        path = paths[(stored, pk)]
                        progress.judge("schema_drift", pk, checks.schema_drift(rows.schema, spec, reference.types()))
                        reference.learn(rows.schema, pk)
                        progress.judge("not_empty", pk, checks.empty_day(rows.num_rows, spec))
                        progress.judge("conservation", pk, checks.conservation(rows.num_rows, chunk.dwh_rows_of(day)))
                        total += rows.num_rows
                        progress.record(key, pk, {
                            "rows": rows.num_rows, "dagster/row_count": rows.num_rows,
                            "dagster/partition_row_count": rows.num_rows,
                            "dwh_rows": chunk.dwh_rows_of(day),
                            "path": dg.MetadataValue.path(str(path)),
                            "columns": dg.MetadataValue.json({f.name: type_name(f.type) for f in rows.schema}),
                        }, columns=describe(rows.schema))
        except BaseException:
            yield from progress.partial()
            raise
        progress.attach(context)
        yield dg.MaterializeResult(
            metadata={"warehouse": kind, **({"run_days": len(keys), "run_rows": total} if len(keys) > 1 else {})},
            check_results=[check_result(name, key, progress.verdicts[name]) for name in RAW_CHECKS],
        )

    return raw
