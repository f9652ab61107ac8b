"""Every partitioning of a spec in one place: the data assets' days (from the source settings), the
training chain's as-of days, and how an as-of day maps onto the cleansed days it reads."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from batch_training.features import first_as_of_day
from batch_training.spec import TrainingSpec


def daily_partitions(spec: TrainingSpec) -> dg.DailyPartitionsDefinition:
    source = spec.source
    end = (source.last_day + dt.timedelta(days=1)).isoformat() if source.last_day else None
    return dg.DailyPartitionsDefinition(start_date=source.first_day.isoformat(), end_date=end,
                                        timezone=source.timezone)


def day_of(partition_key: str) -> dt.date:
    return dt.date.fromisoformat(partition_key)


def own_selection(assets: list[dg.AssetsDefinition]) -> dg.AssetSelection:
    """These assets with their own checks only: a check defined elsewhere on them (freshness, drift)
    runs in its own job, not in every materialization."""
    own = [key for a in assets for key in a.check_keys]
    return dg.AssetSelection.assets(*assets).without_checks() | dg.AssetSelection.checks(*own)


def as_of_partitions(spec: TrainingSpec) -> dg.DailyPartitionsDefinition:
    """As-of day D trains on days before D: from the first day with enough history to the day after
    the last day of data (``source.last_day + 1``), or open-ended."""
    source = spec.source
    start = first_as_of_day(source.first_day, spec.split)
    end = (source.last_day + dt.timedelta(days=2)).isoformat() if source.last_day else None
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), end_date=end, timezone=source.timezone)


def window_mapping(spec: TrainingSpec, join: str | None = None) -> dg.TimeWindowPartitionMapping:
    """As-of D reads cleansed D-window_days .. D-1 (fewer at the start of the data); a joined table
    also the days before, where a match within the join's tolerance can come from."""
    margin = spec.joins[join].margin_days if join else 0
    return dg.TimeWindowPartitionMapping(start_offset=-spec.split.window_days - margin, end_offset=-1,
                                         allow_nonexistent_upstream_partitions=True)
