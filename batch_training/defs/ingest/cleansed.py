"""``<spec>/cleansed`` and ``<spec>/quarantine``: one pass of the data contract over each raw day."""

import dagster as dg

from batch_training.arrow_memory import prefer_jemalloc
from batch_training.cleansing import checks
from batch_training.cleansing.chunk import cleanse_days
from batch_training.cleansing.order import canonical_order
from batch_training.cleansing.preview import quarantine_preview
from batch_training.defs.boundary import failure_boundary
from batch_training.defs.checks import check_result
from batch_training.defs.days import RangeProgress
from batch_training.defs.partitions import daily_partitions
from batch_training.defs.resources import ArtifactStoreResource
from batch_training.defs.schemas import COLUMN_SCHEMA, contract_schema, schema_describer
from batch_training.defs.tables import Table
from batch_training.storage.partitions import write_batches


def build_cleansing_assets(table: Table) -> dg.AssetsDefinition:
    raw_key, cleansed_key, quarantine_key = table.key("raw"), table.key("cleansed"), table.key("quarantine")
    spec = table.contract
    name = table.spec.name
    partitions = daily_partitions(table.spec)
    quality = spec.quality
    cleansed, quarantined = table.stored("cleansed"), table.stored("quarantine")

    @dg.multi_asset(
        name=f"{table.op_prefix}__cleanse",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=name,
        specs=[
            dg.AssetSpec(cleansed_key, deps=[raw_key], kinds={"parquet"},
                         metadata={COLUMN_SCHEMA: contract_schema(spec, "cleansed")},
                         description="Typed rows that meet the column contract; lossless repairs "
                                     "(whitespace, thousands separators) applied and counted."),
            dg.AssetSpec(quarantine_key, deps=[raw_key], kinds={"parquet"},
                         description="Every rejected raw row, with its raw values as text, its row "
                                     "number in the day's extract and its reasons (column:rule)."),
        ],
        check_specs=[
            dg.AssetCheckSpec("quarantine_rate", asset=cleansed_key, blocking=True, partitions_def=partitions,
                              description=f"WARN above {quality.quarantine_warn_rate:.1%} of a day's rows "
                                          f"quarantined; blocking ERROR above {quality.quarantine_max_rate:.1%}."),
            dg.AssetCheckSpec("duplicates", asset=cleansed_key, partitions_def=partitions,
                              description=f"WARN when exact duplicate rows exceed {quality.duplicate_warn_rate:.1%}."),
        ],
    )
    def cleanse_range(context: dg.AssetExecutionContext, artifacts: ArtifactStoreResource):
        prefer_jemalloc()
        store = artifacts.partitions()
        progress = RangeProgress(("quarantine_rate", "duplicates"))
        describe = schema_describer(spec, "cleansed")
        totals = {"rows_raw": 0, "rows_clean": 0, "rows_quarantined": 0, "rows_repaired": 0}

        def write(batch: list) -> None:
            """A batch of cleansed days, written together (all or none replaced), then recorded."""
            # sorted by value: the same DWH rows in any order give the same file and data version
            cleans = {pk: canonical_order(result.clean) for pk, result in batch}
            paths = store.write_days(name, {key: tab for pk, result in batch for key, tab in
                                            (((cleansed, pk), cleans[pk]), ((quarantined, pk), result.quarantine))})
            for pk, result in batch:
                clean = cleans[pk]
                counts = {"rows_raw": result.rows_raw, "rows_clean": result.rows_clean,
                          "rows_quarantined": result.rows_quarantined, "rows_repaired": result.rows_repaired}
                for counter, value in counts.items():
                    totals[counter] += value
                progress.record(cleansed_key, pk, {
                    **counts, "dagster/row_count": result.rows_clean,
                    "dagster/partition_row_count": result.rows_clean,
                    "repairs": dg.MetadataValue.json(result.repairs),
                    "quarantine_reasons": dg.MetadataValue.json(result.reasons),
                    "path": dg.MetadataValue.path(str(paths[(cleansed, pk)])),
                }, columns=describe(clean.schema))
                progress.record(quarantine_key, pk, {
                    "rows_quarantined": result.rows_quarantined, "dagster/row_count": result.rows_quarantined,
                    "dagster/partition_row_count": result.rows_quarantined,
                    "reasons": dg.MetadataValue.json(result.reasons),
                    "preview": dg.MetadataValue.md(quarantine_preview(result.quarantine)),
                    "path": dg.MetadataValue.path(str(paths[(quarantined, pk)])),
                })
                progress.judge("quarantine_rate", pk, checks.quarantine_rate(result, quality))
                progress.judge("duplicates", pk, checks.duplicates(result, quality))

        try:
            with failure_boundary(context, f"cleansing {table.label}"):
                # text columns as Parquet stores them (each distinct value once); whole days judged in
                # batches of up to source.cleanse_batch_rows rows, the results written a batch of days at a time
                raw_days = store.read_days(name, table.stored("raw"), context.partition_keys, text_as_dictionary=True)
                for batch in write_batches(cleanse_days(raw_days, spec)):
                    write(batch)
        except BaseException:
            yield from progress.partial()
            raise
        progress.attach(context)
        # totals of a range run (a single day already has its own figures)
        run_totals = {f"run_{k}": v for k, v in totals.items()} if len(context.partition_keys) > 1 else {}
        yield dg.MaterializeResult(asset_key=cleansed_key, metadata=run_totals)
        yield dg.MaterializeResult(asset_key=quarantine_key, metadata=run_totals)
        yield check_result("quarantine_rate", cleansed_key, progress.verdicts["quarantine_rate"])
        yield check_result("duplicates", cleansed_key, progress.verdicts["duplicates"])

    return cleanse_range
