"""Is the production model fresh? An asset check on ``<spec>/production_model`` (evaluated daily by
its own job and schedule) that alerts when the model's as-of day is older than the spec allows."""

import datetime as dt

import dagster as dg

from batch_training.alerts import Alert, AlertError
from batch_training.defs.resources import AlertsResource, RegistryResource
from batch_training.settings import Settings
from batch_training.spec import TrainingSpec


def model_age_days(as_of: dt.date, today: dt.date) -> int:
    return (today - as_of).days


def build_freshness(spec: TrainingSpec, settings: Settings, status: dg.DefaultScheduleStatus):
    key = dg.AssetKey([spec.name, "production_model"])
    limit = spec.schedule.max_model_age_days

    @dg.asset_check(asset=key, name="fresh", blocking=False,
                    description=f"The production model's as-of day is at most {limit} day(s) old; alerts otherwise.")
    def fresh(context: dg.AssetCheckExecutionContext, registry: RegistryResource, alerts: AlertsResource):
        today = dt.datetime.now(dt.timezone.utc).date()
        with registry.open() as reg:
            current = reg.production(spec.name)
        if current is None:
            return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                       description="no production model yet", metadata={"limit_days": limit})
        age = model_age_days(current.as_of, today)
        passed = age <= limit
        if not passed:
            alert = Alert(kind="model_stale", title=f"{spec.name}: production model {current.version} is {age} days old",
                          text=f"as of {current.as_of}; the limit is {limit} days. Check the daily runs and the ledger "
                               "(`batch-training failures --open`).",
                          spec=spec.name, run_url=f"{settings.ui_url.rstrip('/')}/runs/{context.run.run_id}",
                          ledger_id=None, details={"version": current.version, "age_days": age})
            try:
                alerts.sink().send(alert)
            except AlertError as exc:
                context.log.error(f"model_stale alert not delivered: {exc}")
        return dg.AssetCheckResult(
            passed=passed, severity=dg.AssetCheckSeverity.ERROR,
            description=f"{current.version} is {age} day(s) old (limit {limit})",
            metadata={"version": current.version, "as_of": str(current.as_of), "age_days": age, "limit_days": limit})

    job = dg.define_asset_job(f"{spec.name}__freshness", selection=dg.AssetSelection.checks(fresh),
                              description="Checks that the production model is fresh.")
    schedule = dg.ScheduleDefinition(name=f"{spec.name}__freshness", job=job, cron_schedule=spec.schedule.cron,
                                     execution_timezone=spec.source.timezone, default_status=status)
    return fresh, job, schedule
