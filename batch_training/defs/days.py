"""Per-day bookkeeping of a step that covers a range of days (a single-run backfill).

Each day's metadata is kept as the step goes. When the step ends well, it is attached to the day's
partition of the asset's materialization. When the step fails part way (the DWH went away in the
third chunk, the disk filled up), the days already written are recorded as materializations of
their own before the failure leaves the step: a failure loses none of them, and the recovery
sensor then sees exactly the days that were not materialized.

A day's written column schema (``dagster/column_schema``, about 4 KB serialized: most of a day's
event, and serializing it most of the event's cost) is attached to the first day of the run, to
every day whose columns differ from the day before it, and to the last day written (the latest
materialization, whose columns the asset's page shows). A day without one has the columns of the
latest day before it that has one; a year of stable columns carries two instead of 365.
"""

from __future__ import annotations

import dagster as dg

from batch_training.cleansing.checks import Verdict
from batch_training.defs.schemas import COLUMN_SCHEMA


class RangeProgress:
    """Metadata per (asset, day) written so far, and the day verdicts of each check."""

    def __init__(self, checks: tuple[str, ...] = ()):
        self.done: dict[tuple[dg.AssetKey, str], dict] = {}
        self.verdicts: dict[str, dict[str, Verdict]] = {name: {} for name in checks}
        self.schemas: dict[tuple[dg.AssetKey, str], dg.TableSchema] = {}  # the days where the columns change
        self.columns: dict[dg.AssetKey, tuple[str, dg.TableSchema]] = {}  # each asset's last day and its columns

    def record(self, key: dg.AssetKey, day: str, metadata: dict, columns: dg.TableSchema | None = None) -> None:
        self.done[(key, day)] = metadata
        if columns is not None:
            if key not in self.columns or self.columns[key][1] != columns:
                self.schemas[(key, day)] = columns
            self.columns[key] = (day, columns)

    def _metadata(self) -> dict[tuple[dg.AssetKey, str], dict]:
        schemas = self.schemas | {(key, day): columns for key, (day, columns) in self.columns.items()}
        return {at: {**metadata, COLUMN_SCHEMA: schemas[at]} if at in schemas else metadata
                for at, metadata in self.done.items()}

    def judge(self, check: str, day: str, verdict: Verdict) -> None:
        self.verdicts[check][day] = verdict

    def days(self, key: dg.AssetKey) -> list[str]:
        return [day for (k, day) in self.done if k == key]

    def attach(self, context: dg.AssetExecutionContext) -> None:
        """The step succeeded: each day's metadata onto its partition of the materialization."""
        for (key, day), metadata in self._metadata().items():
            context.add_asset_metadata(metadata, asset_key=key, partition_key=day)

    def partial(self) -> list[dg.AssetMaterialization]:
        """The step is failing: the days already written, as materializations of their own."""
        return [dg.AssetMaterialization(asset_key=key, partition=day, metadata={**metadata, "partial_run": True})
                for (key, day), metadata in self._metadata().items()]
