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
