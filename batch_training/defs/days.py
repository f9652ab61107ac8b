"""Per-day bookkeeping of a step that covers a range of days (a single-run backfill).

Each day's metadata is kept as the step goes. When the step ends well, it is attached to the day's
partition of the asset's materialization. When the step fails part way (the DWH went away in the
third chunk, the disk filled up), the days already written are recorded as materializations of
their own before the failure leaves the step: a failure loses none of them, and the recovery
sensor then sees exactly the days that were not materialized.
"""

from __future__ import annotations

import dagster as dg

from batch_training.cleansing.checks import Verdict


class RangeProgress:
    """Metadata per (asset, day) written so far, and the day verdicts of each check."""

    def __init__(self, checks: tuple[str, ...] = ()):
        self.done: dict[tuple[dg.AssetKey, str], dict] = {}
        self.verdicts: dict[str, dict[str, Verdict]] = {name: {} for name in checks}

    def record(self, key: dg.AssetKey, day: str, metadata: dict) -> None:
        self.done[(key, day)] = metadata

    def judge(self, check: str, day: str, verdict: Verdict) -> None:
        self.verdicts[check][day] = verdict

    def days(self, key: dg.AssetKey) -> list[str]:
        return [day for (k, day) in self.done if k == key]

    def attach(self, context: dg.AssetExecutionContext) -> None:
        """The step succeeded: each day's metadata onto its partition of the materialization."""
        for (key, day), metadata in self.done.items():
            context.add_asset_metadata(metadata, asset_key=key, partition_key=day)

    def partial(self) -> list[dg.AssetMaterialization]:
        """The step is failing: the days already written, as materializations of their own."""
        return [dg.AssetMaterialization(asset_key=key, partition=day, metadata={**metadata, "partial_run": True})
                for (key, day), metadata in self.done.items()]
