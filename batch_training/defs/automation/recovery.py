"""The recovery sensor: an adapter over ``batch_training.operations`` and the failure ledger.

Each tick:
1. marks failed the runs of this host whose process is gone (a killed CLI run);
2. confirms relaunches asked for earlier: an entry becomes re-kicked only once a run carrying its
   relaunch key exists, and a request whose run never appeared (the daemon died) is asked again;
3. records every new run failure of this code location in the ledger, one entry per failed
   partition, alerting on what is new (``record.py``), and continues the days of a range that only
   waited on another day's failure;
4. resolves ledger entries whose partition has since materialized in a successful run;
5. relaunches what is due (transient failures, after a backoff, within the attempt budget) as
   single runs over contiguous ranges of exactly the failed partitions.

The cursor (kept by Dagster across daemon restarts) only moves when a tick completes, so a tick that
dies is done again: recording is idempotent, and relaunches and continuations carry run keys.

Here is only Dagster's side: reading runs and materializations, and turning the runs the core plans
(``operations.planner``: relaunches and continuations with their tags and run keys) into
``RunRequest``s; what to record, resolve, relaunch and continue is decided there.
"""

import datetime as dt

import dagster as dg
from dagster import DagsterEventType

from batch_training.defs.automation.plans import JobPlan, plan_for
from batch_training.defs.automation.reaper import reap_dead_runs
from batch_training.defs.automation.record import record_failed_run
from batch_training.defs.resources import AlertsResource, LedgerResource
from batch_training.errors import TRANSIENT
from batch_training.operations import failpoints, tags
from batch_training.operations.ledger import Ledger
from batch_training.operations.ledger_schema import ACTIVE
from batch_training.operations.planner import (
    Continuation,
    Relaunch,
    awaits_retry,
    by_relaunch_key,
    plan_continuations,
    plan_due,
    plan_relaunches,
    resolves,
)
from batch_training.settings import Settings


def build_recovery_sensor(plans: list[JobPlan], jobs: list, settings: Settings, status: dg.DefaultSensorStatus):
    by_job = {plan.job: plan for plan in plans}

    @dg.sensor(
        name="recovery", jobs=jobs, minimum_interval_seconds=settings.recovery_interval_s, default_status=status,
        description="Records every failed partition of this code location in the failure ledger, relaunches "
                    "transient failures (backoff, attempt budget) as single runs over contiguous ranges of exactly "
                    "those partitions, continues the days a failure held back, and alerts on data, gate, "
                    "configuration, infrastructure and code failures and on spent budgets.",
    )
    def recovery(context: dg.SensorEvaluationContext, ledger: LedgerResource, alerts: AlertsResource):
        now = dt.datetime.now(dt.timezone.utc)
        instance = context.instance
        reap_dead_runs(instance)
        sink = alerts.sink()
        requests: list[dg.RunRequest] = []
        with ledger.open() as book:
            # relaunches asked for earlier are confirmed first, so a relaunch that has already failed
            # counts as an attempt before its failure is recorded
            requests += confirm_pending(instance, book, by_job, context.log)
            changes = instance.fetch_run_status_changes(DagsterEventType.RUN_FAILURE, limit=50,
                                                        cursor=context.cursor, ascending=True)
            for record in changes.records:
                run = instance.get_run_by_id(record.event_log_entry.run_id)
                plan = plan_for(instance, run, by_job) if run is not None and not awaits_retry(run.tags) else None
                if plan is None:
                    continue
                for recorded in record_failed_run(instance, run, plan, book, sink, settings, now, log=context.log):
                    requests += [run_request(c, plan) for c in
                                 plan_continuations(recorded.run, recorded.continue_days, run.tags)]
            resolve(instance, book)
            for relaunch in plan_due(book.due(now, TRANSIENT), settings.relaunch_budget, by_job):
                book.request_relaunch(relaunch.ledger_ids, relaunch.key, now)
                requests.append(run_request(relaunch, by_job[relaunch.job]))
        if requests:
            failpoints.reach("recovery.before_requests_return")  # a test kills the daemon here
        return dg.SensorResult(run_requests=requests, cursor=changes.cursor or context.cursor)

    return recovery


def run_request(planned: Relaunch | Continuation, plan: JobPlan) -> dg.RunRequest:
    """A planned run as the sensor asks for it: the plan's key is the run key."""
    return dg.RunRequest(run_key=planned.key, job_name=planned.job, asset_selection=plan.selection(planned),
                         partition_key=planned.partition_key, tags=planned.tags)


def _failed_at(instance: dg.DagsterInstance, entry) -> float:
    """When the entry's latest failing run started (the entry's creation when the run is unknown)."""
    record = instance.get_run_record_by_id(entry.run_id)
    started = record.start_time if record is not None else None
    return started or record.create_timestamp.timestamp() if record is not None else entry.created_at.timestamp()


def resolve(instance: dg.DagsterInstance, book: Ledger) -> None:
    """Entries whose partition has since materialized in a successful run are resolved."""
    for entry in book.list(status=ACTIVE):
        key = dg.AssetKey.from_user_string(entry.asset)
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[entry.partition]), limit=1, ascending=False).records
        if not records or not resolves(entry, records[0].run_id, records[0].timestamp, _failed_at(instance, entry)):
            continue
        run = instance.get_run_by_id(records[0].run_id)
        if run is not None and run.status == dg.DagsterRunStatus.SUCCESS:
            book.resolve(spec=entry.spec, asset=entry.asset, partition=entry.partition, run_id=run.run_id)


def _run_of(instance: dg.DagsterInstance, key: str) -> dg.DagsterRun | None:
    records = instance.get_run_records(dg.RunsFilter(tags={tags.RELAUNCH: key}), limit=1)
    return records[0].dagster_run if records else None


def confirm_pending(instance: dg.DagsterInstance, book: Ledger, by_job: dict[str, JobPlan], log) -> list[dg.RunRequest]:
    """Pending relaunches whose run exists become re-kicked; the others are asked for again."""
    again = []
    for key, entries in by_relaunch_key(book.pending()).items():
        run = _run_of(instance, key)
        if run is not None:
            book.mark_rekicked([e.id for e in entries], run.run_id)
            continue
        for relaunch in plan_relaunches(entries):
            if relaunch.job in by_job:
                log.warning(f"relaunch {key} was asked for but its run never appeared; asking again")
                again.append(run_request(relaunch, by_job[relaunch.job]))
    return again
