"""Dagster adapters only: assets, checks, jobs, schedules, sensors and resources built from the specs."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import dagster as dg

from batch_training.defs.automation.freshness import build_freshness, build_source_freshness
from batch_training.defs.automation.plans import JobPlan, plan_of
from batch_training.defs.automation.recovery import build_recovery_sensor
from batch_training.defs.monitoring import build_monitor_after_ingest, build_monitoring_defs, monitor_job_name
from batch_training.defs.automation.schedule import build_daily_schedule, build_retrain_on_drift, build_train_after_ingest
from batch_training.defs.boundary import StepRetries
from batch_training.defs.ingest import build_ingest_defs, ingest_job_name
from batch_training.defs.partitions import daily_partitions
from batch_training.defs.resources import resources_for
from batch_training.defs.training import build_training_defs, train_job_name
from batch_training.defs.training.partitions import as_of_partitions
from batch_training.settings import Settings
from batch_training.spec import TrainingSpec


@dataclass
class _Built:
    parts: list[dg.Definitions] = field(default_factory=list)
    plans: list[JobPlan] = field(default_factory=list)
    jobs: list = field(default_factory=list)


def _build(specs: list[TrainingSpec], settings: Settings) -> _Built:
    # Deliberate use of preview/beta APIs: partitioned asset checks (so a single-day run records its
    # check per partition) and BackfillPolicy.single_run (a year backfill is one run).
    on = settings.environment == "production"  # schedules and sensors are off locally until turned on
    schedule_status = dg.DefaultScheduleStatus.RUNNING if on else dg.DefaultScheduleStatus.STOPPED
    sensor_status = dg.DefaultSensorStatus.RUNNING if on else dg.DefaultSensorStatus.STOPPED
    retries = StepRetries.from_settings(settings)
    built = _Built()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        for spec in specs:
            ingest = build_ingest_defs(spec, retries)
            ingest_job = ingest.jobs[0]
            source_fresh, source_job, source_schedule = build_source_freshness(spec, settings, schedule_status)
            built.parts += [ingest, dg.Definitions(asset_checks=[source_fresh], jobs=[source_job],
                                                   schedules=[source_schedule])]
            built.plans.append(plan_of(spec.name, ingest_job_name(spec), ingest, daily_partitions(spec)))
            built.jobs.append(ingest_job)
            if not spec.trainable:
                built.parts.append(dg.Definitions(schedules=[build_daily_schedule(spec, ingest_job, schedule_status)]))
                continue
            training = build_training_defs(spec, retries)
            train_job = training.jobs[0]
            built.parts.append(training)
            built.plans.append(plan_of(spec.name, train_job_name(spec), training, as_of_partitions(spec)))
            built.jobs.append(train_job)
            monitoring = build_monitoring_defs(spec, settings)
            monitor_job = monitoring.jobs[0]
            built.parts.append(monitoring)
            built.plans.append(plan_of(spec.name, monitor_job_name(spec), monitoring, daily_partitions(spec)))
            built.jobs.append(monitor_job)
            fresh, fresh_job, fresh_schedule = build_freshness(spec, settings, schedule_status)
            built.parts.append(dg.Definitions(
                asset_checks=[fresh], jobs=[fresh_job],
                schedules=[build_daily_schedule(spec, ingest_job, schedule_status), fresh_schedule],
                sensors=[build_train_after_ingest(spec, ingest_job, train_job, sensor_status),
                         build_monitor_after_ingest(spec, ingest_job, monitor_job, sensor_status),
                         build_retrain_on_drift(spec, monitor_job, train_job, sensor_status)],
            ))
        built.parts.append(dg.Definitions(sensors=[build_recovery_sensor(built.plans, built.jobs, settings, sensor_status)]))
    return built


def build_defs(specs: list[TrainingSpec], settings: Settings, resources: dict | None = None) -> dg.Definitions:
    """Everything of the specs; ``resources`` replaces the environment's (tests, tools)."""
    built = _build(specs, settings)
    resources = resources if resources is not None else resources_for(settings)
    return dg.Definitions.merge(*built.parts, dg.Definitions(resources=resources))


def build_plans(specs: list[TrainingSpec], settings: Settings) -> list[JobPlan]:
    """The jobs' plans, as the recovery sensor sees them (the CLI records its own failures with them)."""
    return _build(specs, settings).plans
