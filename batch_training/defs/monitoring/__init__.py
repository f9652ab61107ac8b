"""Monitoring between retrains: data drift and the production model's live error, per day, in their
own job, run after each successful ingest of the days (the sensor below)."""

from __future__ import annotations

import dagster as dg

from batch_training.defs.automation.plans import JobPlan
from batch_training.defs.monitoring.drift import build_drift_asset
from batch_training.defs.monitoring.live import build_live_asset
from batch_training.defs.partitions import own_selection
from batch_training.operations import tags
from batch_training.settings import Settings
from batch_training.spec import TrainingSpec


def monitor_job_name(spec: TrainingSpec) -> str:
    return f"{spec.name}__monitor"


def build_monitoring_defs(spec: TrainingSpec, settings: Settings) -> dg.Definitions:
    assets = [build_drift_asset(spec, settings), build_live_asset(spec, settings)]
    job = dg.define_asset_job(
        monitor_job_name(spec), selection=own_selection(assets),
        description=f"Data drift and live error of {spec.name}'s production model on days already ingested.")
    return dg.Definitions(assets=assets, jobs=[job])


def build_monitor_after_ingest(spec: TrainingSpec, ingest: JobPlan, monitor_job, status: dg.DefaultSensorStatus):
    # every job of the code location is watched: a recovery backfill's runs are of the implicit asset job
    @dg.run_status_sensor(
        name=f"{spec.name}__monitor_after_ingest", run_status=dg.DagsterRunStatus.SUCCESS,
        request_job=monitor_job, default_status=status, minimum_interval_seconds=30,
        description="When an ingest of some days succeeds, measure their drift and the production model's live error.",
    )
    def monitor_after_ingest(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        if not ingest.ran(run):
            return dg.SkipReason(f"not a run of {ingest.job}")
        trigger = {tags.TRIGGER: "monitor"}
        if (day := run.tags.get(tags.PARTITION)) is not None:
            return dg.RunRequest(run_key=f"monitor-{run.run_id}", partition_key=day, tags=trigger)
        first, last = run.tags.get(tags.RANGE_START), run.tags.get(tags.RANGE_END)
        if first and last:
            return dg.RunRequest(run_key=f"monitor-{run.run_id}", tags={
                **trigger, tags.RANGE_START: first, tags.RANGE_END: last})
        return dg.SkipReason("the ingest run has no partition")

    return monitor_after_ingest
