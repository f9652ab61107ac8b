"""Dagster adapters only: assets, checks, jobs, schedules, sensors and resources built from the specs."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from batch_training.defs.automation.freshness import build_freshness, build_source_freshness
from batch_training.defs.automation.plans import JobPlan, plan_of
from batch_training.defs.automation.recovery import build_recovery_sensor
from batch_training.defs.automation.schedule import build_daily_schedule, build_retrain_on_drift, build_train_after_ingest
from batch_training.defs.boundary import StepRetries
from batch_training.defs.ingest import build_ingest_defs, ingest_job_name
from batch_training.defs.monitoring import build_monitor_after_ingest, build_monitoring_defs, monitor_job_name
from batch_training.defs.partitions import as_of_partitions, daily_partitions
from batch_training.defs.references import with_code_references
from batch_training.defs.resources import resources_for, trainer_for
from batch_training.defs.training import build_training_defs, train_job_name
from batch_training.settings import Settings
from batch_training.spec import SpecError, TrainingSpec


@dataclass
class _Built:
    specs: dict[str, dg.Definitions] = field(default_factory=dict)  # each spec's own definitions
    plans: list[JobPlan] = field(default_factory=list)


def _statuses(settings: Settings) -> tuple[dg.DefaultScheduleStatus, dg.DefaultSensorStatus]:
    on = settings.environment == "production"  # schedules and sensors are off locally until turned on
    return (dg.DefaultScheduleStatus.RUNNING if on else dg.DefaultScheduleStatus.STOPPED,
            dg.DefaultSensorStatus.RUNNING if on else dg.DefaultSensorStatus.STOPPED)


def _build_spec(spec: TrainingSpec, settings: Settings, retries: StepRetries, built: _Built) -> list[dg.Definitions]:
    """One spec's parts; its jobs and their plans are added to ``built`` (the recovery sensor's)."""
    schedule_status, sensor_status = _statuses(settings)
    ingest = build_ingest_defs(spec, retries)
    ingest_job = ingest.jobs[0]
    source_fresh, source_job, source_schedule = build_source_freshness(spec, settings, schedule_status)
    parts = [ingest, dg.Definitions(asset_checks=[source_fresh], jobs=[source_job], schedules=[source_schedule])]
    ingest_plan = plan_of(spec.name, ingest_job_name(spec), ingest, daily_partitions(spec))
    built.plans.append(ingest_plan)
    if not spec.trainable:
        return parts + [dg.Definitions(schedules=[build_daily_schedule(spec, ingest_job, schedule_status)])]
    training = build_training_defs(spec, retries)
    train_job = training.jobs[0]
    parts.append(training)
    built.plans.append(plan_of(spec.name, train_job_name(spec), training, as_of_partitions(spec)))
    monitoring = build_monitoring_defs(spec, settings)
    monitor_job = monitoring.jobs[0]
    parts.append(monitoring)
    monitor_plan = plan_of(spec.name, monitor_job_name(spec), monitoring, daily_partitions(spec))
    built.plans.append(monitor_plan)
    fresh, fresh_job, fresh_schedule = build_freshness(spec, settings, schedule_status)
    parts.append(dg.Definitions(
        asset_checks=[fresh], jobs=[fresh_job],
        schedules=[build_daily_schedule(spec, ingest_job, schedule_status), fresh_schedule],
        sensors=[build_train_after_ingest(spec, ingest_plan, train_job, sensor_status),
                 build_monitor_after_ingest(spec, ingest_plan, monitor_job, sensor_status),
                 build_retrain_on_drift(spec, monitor_plan, train_job, sensor_status)],
    ))
    return parts


def _build(specs: list[TrainingSpec], settings: Settings, spec_files: Mapping[str, Path] | None = None) -> _Built:
    # Deliberate use of preview/beta APIs: partitioned asset checks (so a single-day run records its
    # check per partition), BackfillPolicy.single_run (a year backfill is one run) and source code
    # references.
    retries = StepRetries.from_settings(settings)
    built = _Built()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        for spec in specs:
            if spec.name in built.specs:
                raise SpecError(f"two specs are named {spec.name!r}: spec names must be unique")
            parts = _build_spec(spec, settings, retries, built)
            built.specs[spec.name] = with_code_references(dg.Definitions.merge(*parts), (spec_files or {}).get(spec.name))
    return built


def _recovery(built: _Built, settings: Settings) -> dg.Definitions:
    """The one recovery sensor, over the assets of every spec built (components' too): it asks for
    asset backfills, so it selects assets, not jobs."""
    return dg.Definitions(sensors=[build_recovery_sensor(built.plans, settings, _statuses(settings)[1])])


def build_defs(specs: list[TrainingSpec], settings: Settings, resources: dict | None = None, *,
               spec_files: Mapping[str, Path] | None = None, component_specs: Sequence[TrainingSpec] = (),
               component_defs: dg.Definitions | None = None) -> dg.Definitions:
    """Everything of the specs; ``resources`` replaces the environment's (tests, tools).

    ``spec_files``: the YAML file of a spec by name, for its assets' code references.
    ``component_specs``: specs whose own definitions were built elsewhere, into ``component_defs``
    (the TrainingPipeline components of the defs folder, each by ``build_pipeline_defs``): those
    definitions join, with their jobs watched by the one recovery sensor too."""
    built = _build([*specs, *component_specs], settings, spec_files)
    resources = resources if resources is not None else resources_for(settings)
    if "trainer" not in resources:  # resources given without one (tests, tools) train in process
        resources = {**resources, "trainer": trainer_for(settings)}
    return dg.Definitions.merge(*(built.specs[s.name] for s in specs), *([component_defs] if component_defs else []),
                                _recovery(built, settings), dg.Definitions(resources=resources))


def build_pipeline_defs(spec: TrainingSpec, settings: Settings, spec_file: Path | None = None) -> dg.Definitions:
    """One spec's own definitions (assets, checks, jobs, schedules, its sensors) without what spans
    specs (the resources, the recovery sensor): what a TrainingPipeline component builds."""
    return _build([spec], settings, {spec.name: spec_file} if spec_file else None).specs[spec.name]


def build_plans(specs: list[TrainingSpec], settings: Settings) -> list[JobPlan]:
    """The jobs' plans, as the recovery sensor sees them (the CLI records its own failures with them)."""
    return _build(specs, settings).plans
