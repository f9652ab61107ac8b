"""The recovery sensor: an adapter over ``batch_training.operations`` and the failure ledger.

Each tick:
1. marks failed the runs of this host whose process is gone (a killed CLI run);
2. confirms relaunches asked for earlier: an entry becomes re-kicked only once a run carrying its
   relaunch key exists, and a request whose run never appeared (the daemon died) is asked again;
3. records every new run failure of this code location in the ledger, one entry per failed
   partition, alerting on what is new (``record.py``), and continues the days of a range that only
   waited on another day's failure;
4. resolves ledger entries whose partition has since materialized in a successful run;
5. relaunches what is due (transient failures, after a backoff, within the attempt budget) as asset
   backfills of exactly the failed partitions, one per job and attempt, whose runs each cover one
   contiguous range (``BackfillPolicy.single_run``).

Relaunches and continuations are Dagster asset backfills (``backfills.py``), so they show in the UI's
Backfills tab with their partitions' status, and an operator can re-execute a backfill's failures
from there. The cursor (kept by Dagster across daemon restarts) only moves when a tick completes, so a
tick that dies is done again: recording is idempotent, a relaunch is confirmed by its backfill's key
before it counts, and a continuation whose backfill exists is not asked for twice.

Here is only Dagster's side: reading runs and materializations, and turning the backfills the core
plans (``operations.planner``) into requests; what to record, resolve, relaunch and continue is
decided there. Every ledger change also lands on its asset partition as an observation
(``observations.py``).
"""

import datetime as dt

import dagster as dg
from dagster import DagsterEventType

from batch_training.defs.automation import backfills
from batch_training.defs.automation.observations import observed
from batch_training.defs.automation.plans import JobPlan, plan_for
from batch_training.defs.automation.reaper import reap_dead_runs
from batch_training.defs.automation.record import record_failed_run
from batch_training.defs.resources import AlertsResource, LedgerResource
from batch_training.errors import TRANSIENT
from batch_training.operations import failpoints
from batch_training.operations.ledger import Ledger
from batch_training.operations.ledger_schema import ACTIVE
from batch_training.operations.planner import (
    Backfill,
    awaits_retry,
    by_relaunch_key,
    plan_continuations,
    plan_due,
    plan_relaunches,
    resolves,
)
from batch_training.settings import Settings


def build_recovery_sensor(plans: list[JobPlan], settings: Settings, status: dg.DefaultSensorStatus):
    by_job = {plan.job: plan for plan in plans}
    selection = dg.AssetSelection.assets(*dict.fromkeys(key for plan in plans for key in plan.assets))

    @dg.sensor(
        name="recovery", asset_selection=selection, minimum_interval_seconds=settings.recovery_interval_s,
        default_status=status,
        description="Records every failed partition of this code location in the failure ledger, relaunches "
                    "transient failures (backoff, attempt budget) as asset backfills of exactly those partitions "
                    "(one per job and attempt; a run per contiguous range), continues the days a failure held back, "
                    "and alerts on data, gate, configuration, infrastructure and code failures and on spent budgets.",
    )
    def recovery(context: dg.SensorEvaluationContext, ledger: LedgerResource, alerts: AlertsResource):
        now = dt.datetime.now(dt.timezone.utc)
        instance = context.instance
        asset_graph = context.repository_def.asset_graph
        reap_dead_runs(instance)
        sink = alerts.sink()
        requests: list[dg.RunRequest] = []
        with observed(ledger.open(), instance, context.log, settings.ui_url) as book:
            # relaunches asked for earlier are confirmed first, so a relaunch that has already failed
            # counts as an attempt before its failure is recorded
            requests += confirm_pending(instance, book, by_job, asset_graph, context.log)
            changes = instance.fetch_run_status_changes(DagsterEventType.RUN_FAILURE, limit=50,
                                                        cursor=context.cursor, ascending=True)
            for record in changes.records:
                run = instance.get_run_by_id(record.event_log_entry.run_id)
                plan = plan_for(instance, run, by_job) if run is not None and not awaits_retry(run.tags) else None
                if plan is None:
                    continue
                for recorded in record_failed_run(instance, run, plan, book, sink, settings, now, log=context.log):
                    for planned in plan_continuations(recorded.run, recorded.continue_days, run.tags):
                        # its backfill, if asked for before, was made after the run failed
                        failed = dt.datetime.fromtimestamp(record.event_log_entry.timestamp, dt.timezone.utc)
                        if backfills.find(instance, planned.key, failed) is None:
                            requests.append(backfill_request(planned, plan, asset_graph))
            resolve(instance, book)
            for planned in plan_due(book.due(now, TRANSIENT), settings.relaunch_budget, by_job):
                book.request_relaunch(planned.ledger_ids, planned.key, now)
                requests.append(backfill_request(planned, by_job[planned.job], asset_graph))
        if requests:
            failpoints.reach("recovery.before_requests_return")  # a test kills the daemon here
        return dg.SensorResult(run_requests=requests, cursor=changes.cursor or context.cursor)

    return recovery


def backfill_request(planned: Backfill, plan: JobPlan, asset_graph) -> dg.RunRequest:
    """A planned backfill as the sensor asks for it."""
    return backfills.request(backfills.target(asset_graph, plan.parts(planned)), plan.backfill_tags(planned))


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


def confirm_pending(instance: dg.DagsterInstance, book: Ledger, by_job: dict[str, JobPlan], asset_graph,
                    log) -> list[dg.RunRequest]:
    """Pending relaunches whose backfill exists become re-kicked; the others are asked for again."""
    again = []
    for key, entries in by_relaunch_key(book.pending()).items():
        asked = min(e.relaunch_requested_at or e.updated_at for e in entries)
        found = backfills.find(instance, key, asked)
        if found is not None:
            book.mark_rekicked([e.id for e in entries], found.backfill_id, backfill_id=found.backfill_id)
            continue
        for planned in plan_relaunches(entries):
            if planned.job in by_job:
                log.warning(f"relaunch {key} was asked for but its backfill never appeared; asking again")
                again.append(backfill_request(planned, by_job[planned.job], asset_graph))
    return again
