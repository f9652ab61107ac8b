"""Daily partitions of a spec, from its source settings."""

from __future__ import annotations

import datetime as dt

import dagster as dg

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
