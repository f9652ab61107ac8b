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
from batch_training.operations.planner import Relaunch, budget_left, contiguous_ranges, plan_relaunches
from batch_training.settings import Settings

CONTINUED = "batch_training/continued"  # set on a failed run whose held-back days were run in process


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
                if run is None or run.tags.get(tags.WILL_RETRY) == "true":
                    continue
                plan = plan_for(instance, run, by_job)
                if plan is None:
                    continue
                for recorded in record_failed_run(instance, run, plan, book, sink, settings, now, log=context.log):
                    if recorded.continue_days and run.tags.get(CONTINUED) != "true":
                        requests += continuations(plan, run, recorded.run.asset, recorded.continue_days)
            resolve(instance, book)
            requests += relaunch_due(book, by_job, settings, now)
        if requests:
            failpoints.reach("recovery.before_requests_return")  # a test kills the daemon here
        return dg.SensorResult(run_requests=requests, cursor=changes.cursor or context.cursor)

    return recovery


def range_tags(first: str, last: str) -> dict[str, str]:
    return {tags.RANGE_START: first, tags.RANGE_END: last}


def continuations(plan: JobPlan, run: dg.DagsterRun, failed_asset: str, days: tuple[str, ...]) -> list[dg.RunRequest]:
    """Run the steps after the failed one for the days that passed (one run per contiguous range)."""
    selection = plan.after(dg.AssetKey.from_user_string(failed_asset))
    out = []
    for first, last in contiguous_ranges(days):
        run_tags = {tags.TRIGGER: "continuation", tags.CONTINUES: run.run_id, **range_tags(first, last)}
        out.append(dg.RunRequest(run_key=f"continue-{run.run_id}-{failed_asset}-{first}-{last}", job_name=plan.job,
                                 asset_selection=selection, tags=run_tags))
    return out


def _failed_at(instance: dg.DagsterInstance, entry) -> float:
    """When the entry's latest failing run started (the entry's creation when the run is unknown)."""
    record = instance.get_run_record_by_id(entry.run_id)
    started = record.start_time if record is not None else None
    return started or record.create_timestamp.timestamp() if record is not None else entry.created_at.timestamp()


def resolve(instance: dg.DagsterInstance, book) -> None:
    """Entries whose partition materialized in a successful run after their latest failure are resolved
    (a blocked materialization, recorded before its check failed, belongs to a failed run)."""
    for entry in book.list(status=("open", "rekicked")):
        key = dg.AssetKey.from_user_string(entry.asset)
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[entry.partition]), limit=1, ascending=False).records
        if not records or records[0].run_id in entry.failed_runs or records[0].timestamp <= _failed_at(instance, entry):
            continue
        run = instance.get_run_by_id(records[0].run_id)
        if run is not None and run.status == dg.DagsterRunStatus.SUCCESS:
            book.resolve(spec=entry.spec, asset=entry.asset, partition=entry.partition, run_id=run.run_id)


def request_for(relaunch: Relaunch, plan: JobPlan) -> dg.RunRequest:
    selection = plan.relaunch_selection(relaunch.assets, relaunch.from_start)
    run_tags = {tags.TRIGGER: "recovery", tags.LEDGER_IDS: ",".join(map(str, relaunch.ledger_ids)),
                tags.ATTEMPT: str(relaunch.attempt), tags.RELAUNCH: relaunch.key}
    if relaunch.first == relaunch.last:
        return dg.RunRequest(run_key=relaunch.key, job_name=relaunch.job, asset_selection=selection,
                             partition_key=relaunch.first, tags=run_tags)
    return dg.RunRequest(run_key=relaunch.key, job_name=relaunch.job, asset_selection=selection,
                         tags={**run_tags, **range_tags(relaunch.first, relaunch.last)})


def _run_of(instance: dg.DagsterInstance, key: str) -> dg.DagsterRun | None:
    records = instance.get_run_records(dg.RunsFilter(tags={tags.RELAUNCH: key}), limit=1)
    return records[0].dagster_run if records else None


def confirm_pending(instance: dg.DagsterInstance, book, by_job: dict[str, JobPlan], log) -> list[dg.RunRequest]:
    """Pending relaunches whose run exists become re-kicked; the others are asked for again."""
    again = []
    by_key: dict[str, list] = {}
    for entry in book.pending():
        by_key.setdefault(entry.relaunch_key, []).append(entry)
    for key, entries in by_key.items():
        run = _run_of(instance, key)
        if run is not None:
            book.mark_rekicked([e.id for e in entries], run.run_id)
            continue
        for relaunch in plan_relaunches(entries):
            if relaunch.job in by_job:
                log.warning(f"relaunch {key} was asked for but its run never appeared; asking again")
                again.append(request_for(relaunch, by_job[relaunch.job]))
    return again


def relaunch_due(book, by_job: dict[str, JobPlan], settings: Settings, now: dt.datetime) -> list[dg.RunRequest]:
    due = [e for e in book.due(now, TRANSIENT) if budget_left(e.attempts, settings.relaunch_budget) and e.job in by_job]
    requests = []
    for relaunch in plan_relaunches(due):
        book.request_relaunch(relaunch.ledger_ids, relaunch.key, now)
        requests.append(request_for(relaunch, by_job[relaunch.job]))
    return requests
