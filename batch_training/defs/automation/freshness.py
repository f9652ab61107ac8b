"""Freshness, two questions kept apart:

- ``fresh`` (on ``<spec>/production_model``): how far does the production model lag the data? Its
  as-of day D means it learnt from the days before D; with the newest ingested day N its lag is
  ``N + 1 - D`` days, and the check fails above ``schedule.max_model_age_days``. Measured against
  the data, not the clock, so a model trained on a historical data set is as fresh as its data.
- ``source_fresh`` (on ``<spec>/raw``): does the DWH still receive new days? The newest day in the
  DWH table against today in the spec's timezone: the daily run ingests yesterday, so a lag above
  ``schedule.max_source_lag_days`` fails. A spec with a ``last_day`` is a bounded data set and is not
  checked. It has its own job and schedule, on in production only; never part of an ingest run.

Both alert (``model_stale``, ``source_stale``) when they fail.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from batch_training.defs.resources import AlertsResource, RegistryResource, WarehouseResource
from batch_training.operations.alerts import Alert
from batch_training.operations.recording import run_url, send
from batch_training.settings import Settings
from batch_training.spec import TrainingSpec
from batch_training.warehouse.extract import newest_day


def model_lag_days(as_of: dt.date, newest_data_day: dt.date) -> int:
    """Days of data the model has not learnt from (0: it learnt from every day there is)."""
    return (newest_data_day + dt.timedelta(days=1) - as_of).days


def source_lag_days(newest_day: dt.date, today: dt.date) -> int:
    """Days the DWH is behind (0: it holds yesterday, the day the daily run ingests)."""
    return (today - dt.timedelta(days=1) - newest_day).days


def _newest_ingested(instance: dg.DagsterInstance, spec: TrainingSpec) -> dt.date | None:
    days = instance.get_materialized_partitions(dg.AssetKey([spec.name, "cleansed"]))
    return max((dt.date.fromisoformat(d) for d in days), default=None)


def build_freshness(spec: TrainingSpec, settings: Settings, status: dg.DefaultScheduleStatus):
    key = dg.AssetKey([spec.name, "production_model"])
    limit = spec.schedule.max_model_age_days

    @dg.asset_check(asset=key, name="fresh", blocking=False,
                    description=f"The production model lags the newest ingested day by at most {limit} day(s); "
                                "alerts otherwise.")
    def fresh(context: dg.AssetCheckExecutionContext, registry: RegistryResource, alerts: AlertsResource):
        with registry.open() as reg:
            current = reg.production(spec.name)
        if current is None:
            return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                       description="no production model yet", metadata={"limit_days": limit})
        newest = _newest_ingested(context.instance, spec)
        if newest is None:
            return dg.AssetCheckResult(passed=True, severity=dg.AssetCheckSeverity.WARN,
                                       description="no ingested day to compare with", metadata={"limit_days": limit})
        lag = model_lag_days(current.as_of, newest)
        passed = lag <= limit
        if not passed:
            send(alerts.sink(), Alert(
                kind="model_stale", title=f"{spec.name}: production model {current.version} lags the data by {lag} days",
                text=f"as of {current.as_of}; the newest ingested day is {newest}; the limit is {limit} days.",
                spec=spec.name, run_url=run_url(settings, context.run.run_id),
                hint="check the daily training runs and the ledger (`batch-training failures --open`)",
                details={"version": current.version, "lag_days": lag}), context.log)
        return dg.AssetCheckResult(
            passed=passed, severity=dg.AssetCheckSeverity.ERROR,
            description=f"{current.version} lags the newest ingested day ({newest}) by {lag} day(s) (limit {limit})",
            metadata={"version": current.version, "as_of": str(current.as_of), "newest_day": str(newest),
                      "lag_days": lag, "limit_days": limit})

    job = dg.define_asset_job(f"{spec.name}__freshness", selection=dg.AssetSelection.checks(fresh),
                              description="Checks that the production model keeps up with the data.")
    schedule = dg.ScheduleDefinition(name=f"{spec.name}__freshness", job=job, cron_schedule=spec.schedule.cron,
                                     execution_timezone=spec.source.timezone, default_status=status)
    return fresh, job, schedule


def build_source_freshness(spec: TrainingSpec, settings: Settings, status: dg.DefaultScheduleStatus):
    key = dg.AssetKey([spec.name, "raw"])
    limit = spec.schedule.max_source_lag_days
    source = spec.source

    @dg.asset_check(asset=key, name="source_fresh", blocking=False,
                    description=f"The DWH table `{source.table}` holds days up to at most {limit} day(s) before "
                                "yesterday; alerts otherwise. Not checked for a bounded spec (with last_day).")
    def source_fresh(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, alerts: AlertsResource):
        if source.last_day is not None:
            return dg.AssetCheckResult(passed=True, severity=dg.AssetCheckSeverity.WARN,
                                       description=f"a bounded data set ending {source.last_day}: not checked")
        today = dt.datetime.now(ZoneInfo(source.timezone)).date()
        with warehouse.connect() as wh:
            newest = newest_day(wh, source)
        lag = source_lag_days(newest, today) if newest is not None else None
        passed = lag is not None and lag <= limit
        if not passed:
            send(alerts.sink(), Alert(
                kind="source_stale", title=f"{spec.name}: the DWH table {source.table} has no new days",
                text=f"newest day {newest or 'none'}, today {today}; the limit is {limit} day(s) behind yesterday.",
                spec=spec.name, run_url=run_url(settings, context.run.run_id),
                hint="check the load of the DWH table upstream", details={"lag_days": lag}), context.log)
        return dg.AssetCheckResult(
            passed=passed, severity=dg.AssetCheckSeverity.ERROR,
            description=f"newest DWH day {newest or 'none'} ({'?' if lag is None else lag} day(s) behind yesterday)",
            metadata={"newest_day": str(newest), "lag_days": -1 if lag is None else lag, "limit_days": limit})

    job = dg.define_asset_job(f"{spec.name}__source_freshness", selection=dg.AssetSelection.checks(source_fresh),
                              description="Checks that the DWH keeps receiving new days.")
    schedule = dg.ScheduleDefinition(name=f"{spec.name}__source_freshness", job=job,
                                     cron_schedule=spec.schedule.cron, execution_timezone=source.timezone,
                                     default_status=status)
    return source_fresh, job, schedule
