"""The daily schedule of a spec: ingest yesterday, then train as of today once that ingest succeeded."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from batch_training.defs.training.partitions import as_of_partitions
from batch_training.operations import tags
from batch_training.spec import TrainingSpec

TRIGGER_TAG = tags.TRIGGER


def _in_range(spec: TrainingSpec, day: dt.date) -> bool:
    source = spec.source
    return source.first_day <= day and (source.last_day is None or day <= source.last_day)


def build_daily_schedule(spec: TrainingSpec, ingest_job, status: dg.DefaultScheduleStatus) -> dg.ScheduleDefinition:
    tz = ZoneInfo(spec.source.timezone)

    @dg.schedule(
        name=f"{spec.name}__daily", cron_schedule=spec.schedule.cron, execution_timezone=spec.source.timezone,
        job=ingest_job, default_status=status,
        description=f"Every day at `{spec.schedule.cron}` ({spec.source.timezone}): ingest the day before; "
                    "a successful daily ingest then trains, evaluates and ships a model as of today.",
    )
    def daily(context: dg.ScheduleEvaluationContext):
        day = context.scheduled_execution_time.astimezone(tz).date() - dt.timedelta(days=1)
        if not _in_range(spec, day):
            return dg.SkipReason(f"{day} is outside {spec.name}'s days")
        return dg.RunRequest(run_key=f"daily-{day.isoformat()}", partition_key=day.isoformat(),
                             tags={TRIGGER_TAG: "daily"})

    return daily


def build_train_after_ingest(spec: TrainingSpec, ingest_job, train_job, status: dg.DefaultSensorStatus):
    partitions = as_of_partitions(spec)

    @dg.run_status_sensor(
        name=f"{spec.name}__train_after_ingest", run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[ingest_job], request_job=train_job, default_status=status, minimum_interval_seconds=30,
        description="When a daily (or recovered) ingest of day D-1 succeeds, train as of D.",
    )
    def train_after_ingest(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        if run.tags.get(TRIGGER_TAG) not in ("daily", "recovery"):
            return dg.SkipReason("not a daily or recovery ingest")
        last = run.tags.get("dagster/partition") or run.tags.get("dagster/asset_partition_range_end")
        if last is None:
            return dg.SkipReason("the ingest run has no partition")
        as_of = (dt.date.fromisoformat(last) + dt.timedelta(days=1)).isoformat()
        if not partitions.has_partition_key(as_of):
            return dg.SkipReason(f"{as_of} is not an as-of day of {spec.name}")
        return dg.RunRequest(run_key=f"train-{as_of}", partition_key=as_of, tags={TRIGGER_TAG: run.tags[TRIGGER_TAG]})

    return train_after_ingest
