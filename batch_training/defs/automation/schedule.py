"""The daily schedule of a spec: ingest yesterday, then train as of today once that ingest succeeded
(when the inputs changed and a retraining is due), or early when monitoring found data drift."""

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import dagster as dg

from batch_training.defs.automation.plans import JobPlan
from batch_training.defs.partitions import as_of_partitions
from batch_training.defs.resources import ArtifactStoreResource, RegistryResource
from batch_training.defs.summaries import check_outcome
from batch_training.defs.training.dataset import cleansed_days
from batch_training.errors import DataError
from batch_training.features import window_for
from batch_training.features.dataset import window_data_version
from batch_training.monitoring import inputs_identity
from batch_training.monitoring.retrain import TrainDecision, decide_training
from batch_training.operations import tags
from batch_training.spec import TrainingSpec

TRIGGER_TAG = tags.TRIGGER
REASON_TAG = tags.TRAIN_REASON


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


_IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
              dg.DagsterRunStatus.STARTED]


def _identity(spec: TrainingSpec, store, as_of: dt.date) -> str | None:
    """The inputs identity a training as of ``as_of`` would see; None when a day is not there yet."""
    try:
        window = window_for(as_of, spec.split, spec.source.first_day)
        days = cleansed_days(store, spec)
        return inputs_identity(spec, window_data_version(spec, window, days.day_fingerprint, days.joined))
    except (FileNotFoundError, DataError):
        return None


def training_decision(spec: TrainingSpec, store, registry, as_of: str, drift_error_days: Sequence[str] = (),
                      force: bool = False, scheduled: bool = True) -> TrainDecision:
    with registry.open() as reg:
        production = reg.production(spec.name)
    day = dt.date.fromisoformat(as_of)
    return decide_training(spec, day, None if force else _identity(spec, store, day), production, drift_error_days,
                           force, scheduled)


def train_request(context, spec: TrainingSpec, train_job: str, as_of: str, trigger: str, registry, artifacts,
                  drift_error_days: Sequence[str] = ()):
    """A RunRequest for the training as of ``as_of``, or the SkipReason that says why not."""
    running = context.instance.get_run_records(dg.RunsFilter(job_name=train_job, statuses=_IN_FLIGHT,
                                                             tags={tags.PARTITION: as_of}), limit=1)
    if running:
        return dg.SkipReason(f"a training as of {as_of} is already queued or running ({running[0].dagster_run.run_id})")
    decision = training_decision(spec, artifacts.partitions(), registry, as_of, drift_error_days)
    if not decision.train:
        return dg.SkipReason(decision.reason)
    return dg.RunRequest(run_key=f"train-{as_of}", partition_key=as_of,
                         tags={TRIGGER_TAG: trigger, REASON_TAG: decision.reason[:200]})


def build_train_after_ingest(spec: TrainingSpec, ingest: JobPlan, train_job, status: dg.DefaultSensorStatus):
    partitions = as_of_partitions(spec)

    # every job of the code location is watched: a recovery backfill's runs are of the implicit asset job
    @dg.run_status_sensor(
        name=f"{spec.name}__train_after_ingest", run_status=dg.DagsterRunStatus.SUCCESS,
        request_job=train_job, default_status=status, minimum_interval_seconds=30,
        description="When a daily (or recovered) ingest of day D-1 succeeds, train as of D: unless the inputs "
                    "are those of the production model, or the spec's retraining interval is not over.",
    )
    def train_after_ingest(context: dg.RunStatusSensorContext, registry: RegistryResource,
                           artifacts: ArtifactStoreResource):
        run = context.dagster_run
        if not ingest.ran(run):
            return dg.SkipReason(f"not a run of {ingest.job}")
        if run.tags.get(TRIGGER_TAG) not in ("daily", "recovery"):
            return dg.SkipReason("not a daily or recovery ingest")
        last = run.tags.get(tags.PARTITION) or run.tags.get(tags.RANGE_END)
        if last is None:
            return dg.SkipReason("the ingest run has no partition")
        as_of = (dt.date.fromisoformat(last) + dt.timedelta(days=1)).isoformat()
        if not partitions.has_partition_key(as_of):
            return dg.SkipReason(f"{as_of} is not an as-of day of {spec.name}")
        return train_request(context, spec, train_job.name, as_of, run.tags[TRIGGER_TAG], registry, artifacts)

    return train_after_ingest


def build_retrain_on_drift(spec: TrainingSpec, monitor: JobPlan, train_job, status: dg.DefaultSensorStatus):
    partitions = as_of_partitions(spec)
    drift_check = dg.AssetCheckKey(dg.AssetKey([spec.name, "data_drift"]), "data_drift")

    @dg.run_status_sensor(
        name=f"{spec.name}__retrain_on_drift", run_status=dg.DagsterRunStatus.SUCCESS,
        request_job=train_job, default_status=status, minimum_interval_seconds=30,
        description="When a monitoring run finds data drift above the ERROR threshold and the spec's "
                    "monitoring.retrain_on_drift_error is on, train early as of the day after.",
    )
    def retrain_on_drift(context: dg.RunStatusSensorContext, registry: RegistryResource,
                         artifacts: ArtifactStoreResource):
        if not spec.monitoring.retrain_on_drift_error:
            return dg.SkipReason("monitoring.retrain_on_drift_error is off")
        run = context.dagster_run
        if not monitor.ran(run):
            return dg.SkipReason(f"not a run of {monitor.job}")
        records = context.instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
        evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
        errors = sorted(day for e in evaluations if e.asset_check_key == drift_check
                        for day in check_outcome(e, run.tags.get(tags.PARTITION)).errors)
        if not errors:
            return dg.SkipReason("no data drift ERROR in the run")
        as_of = (dt.date.fromisoformat(max(errors)) + dt.timedelta(days=1)).isoformat()
        if not partitions.has_partition_key(as_of):
            return dg.SkipReason(f"{as_of} is not an as-of day of {spec.name}")
        return train_request(context, spec, train_job.name, as_of, "drift", registry, artifacts, errors)

    return retrain_on_drift
