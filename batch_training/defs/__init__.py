"""Dagster adapters only: assets, checks, jobs, schedules, sensors and resources built from the specs."""

from __future__ import annotations

import warnings

import dagster as dg

from batch_training.defs.automation.freshness import build_freshness
from batch_training.defs.automation.recovery import JobPlan, build_recovery_sensor
from batch_training.defs.automation.schedule import build_daily_schedule, build_train_after_ingest
from batch_training.defs.ingest import build_ingest_defs, ingest_job_name
from batch_training.defs.partitions import daily_partitions
from batch_training.defs.resources import resources_for
from batch_training.defs.retries import retry_policy
from batch_training.defs.training import build_training_defs, train_job_name
from batch_training.defs.training.partitions import as_of_partitions
from batch_training.settings import Settings
from batch_training.spec import TrainingSpec


def _plan(spec: TrainingSpec, job: str, defs: dg.Definitions, partitions_def) -> JobPlan:
    steps = [(a.op.name, sorted(a.keys, key=lambda k: k.to_user_string())) for a in defs.assets]
    return JobPlan(spec.name, job, partitions_def, steps)


def build_defs(specs: list[TrainingSpec], settings: Settings, resources: dict | None = None) -> dg.Definitions:
    """Everything of the specs; ``resources`` replaces the environment's (tests, tools)."""
    # Deliberate use of preview/beta APIs: partitioned asset checks (so a single-day run records its
    # check per partition) and BackfillPolicy.single_run (a year backfill is one run).
    on = settings.environment == "production"  # schedules and sensors are off locally until turned on
    schedule_status = dg.DefaultScheduleStatus.RUNNING if on else dg.DefaultScheduleStatus.STOPPED
    sensor_status = dg.DefaultSensorStatus.RUNNING if on else dg.DefaultSensorStatus.STOPPED
    retry = retry_policy(settings)
    parts: list[dg.Definitions] = []
    plans: list[JobPlan] = []
    jobs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        for spec in specs:
            ingest = build_ingest_defs(spec, retry)
            ingest_job = ingest.jobs[0]
            parts.append(ingest)
            plans.append(_plan(spec, ingest_job_name(spec), ingest, daily_partitions(spec)))
            jobs.append(ingest_job)
            if not spec.trainable:
                parts.append(dg.Definitions(schedules=[build_daily_schedule(spec, ingest_job, schedule_status)]))
                continue
            training = build_training_defs(spec, retry)
            train_job = training.jobs[0]
            parts.append(training)
            plans.append(_plan(spec, train_job_name(spec), training, as_of_partitions(spec)))
            jobs.append(train_job)
            fresh, fresh_job, fresh_schedule = build_freshness(spec, settings, schedule_status)
            parts.append(dg.Definitions(
                asset_checks=[fresh], jobs=[fresh_job],
                schedules=[build_daily_schedule(spec, ingest_job, schedule_status), fresh_schedule],
                sensors=[build_train_after_ingest(spec, ingest_job, train_job, sensor_status)],
            ))
        recovery = build_recovery_sensor(plans, jobs, settings, sensor_status)
    resources = resources if resources is not None else resources_for(settings)
    return dg.Definitions.merge(*parts, dg.Definitions(sensors=[recovery], resources=resources))
