"""The recovery sensor: failed runs of this code location become ledger entries per failed partition;
transient ones are relaunched (after a backoff, within an attempt budget) as single runs over
contiguous ranges of exactly the failed partitions; everything else raises one alert.

Each tick: (1) read new run failures after the cursor (kept by Dagster across daemon restarts),
(2) resolve ledger entries whose partition has since materialized, (3) relaunch what is due.
A relaunch's run key names its ledger entries and attempt, so the same work is never launched twice.
"""

import datetime as dt
from dataclasses import dataclass

import dagster as dg
from dagster import DagsterEventType

from batch_training.alerts import Alert, AlertError
from batch_training.defs.automation.schedule import TRIGGER_TAG
from batch_training.defs.resources import AlertsResource, LedgerResource
from batch_training.faults import DATA, GATE, TRANSIENT, classify, summary
from batch_training.recovery import budget_left, contiguous_ranges, next_attempt_at
from batch_training.settings import Settings

LEDGER_TAG = "batch_training/ledger_ids"


@dataclass(frozen=True)
class JobPlan:
    """One job of a spec: its steps in order, each with the asset keys it materializes."""

    spec: str
    job: str
    partitions_def: dg.PartitionsDefinition
    steps: list[tuple[str, list[dg.AssetKey]]]   # (op name, asset keys) in execution order

    def asset_of(self, op_name: str) -> dg.AssetKey | None:
        return next((keys[0] for op, keys in self.steps if op == op_name), None)

    def from_asset(self, asset: dg.AssetKey) -> list[dg.AssetKey]:
        """This asset's step and every later step of the job (what its failure skipped)."""
        index = next(i for i, (_, keys) in enumerate(self.steps) if asset in keys)
        return [key for _, keys in self.steps[index:] for key in keys]


def _planned_partitions(run: dg.DagsterRun, plan: JobPlan) -> list[str]:
    if "dagster/partition" in run.tags:
        return [run.tags["dagster/partition"]]
    start, end = run.tags.get("dagster/asset_partition_range_start"), run.tags.get("dagster/asset_partition_range_end")
    if start and end:
        return list(plan.partitions_def.get_partition_keys_in_range(dg.PartitionKeyRange(start, end)))
    return []


def _failed(instance: dg.DagsterInstance, run: dg.DagsterRun, plan: JobPlan):
    """(asset of the first failed step, its partitions not materialized by this run, the step's error)."""
    failures = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_FAILURE).records
    if not failures:
        return None
    event = failures[0].event_log_entry.dagster_event
    asset = plan.asset_of(event.step_key)
    if asset is None:
        return None
    error = event.event_specific_data.error
    planned = _planned_partitions(run, plan)
    if classify(error) in (DATA, GATE):
        return asset, planned, error  # a blocking check fails after the materialization is recorded
    made = {(r.event_log_entry.dagster_event.asset_key, r.event_log_entry.dagster_event.partition)
            for r in instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records}
    return asset, [p for p in planned if (asset, p) not in made], error


_ALERT_KIND = {DATA: "data_failure", GATE: "gate_rejected"}


def build_recovery_sensor(plans: list[JobPlan], jobs: list, settings: Settings, status: dg.DefaultSensorStatus):
    by_job = {plan.job: plan for plan in plans}

    @dg.sensor(
        name="recovery", jobs=jobs, minimum_interval_seconds=60, default_status=status,
        description="Finds failed runs of this code location, records each failed partition in the ledger, "
                    "relaunches transient failures (backoff, attempt budget) as single runs over contiguous ranges "
                    "of exactly those partitions, and alerts on data, gate and code failures and on spent budgets.",
    )
    def recovery(context: dg.SensorEvaluationContext, ledger: LedgerResource, alerts: AlertsResource):
        now = dt.datetime.now(dt.timezone.utc)
        sink = alerts.sink()
        with ledger.open() as book:
            changes = context.instance.fetch_run_status_changes(
                DagsterEventType.RUN_FAILURE, limit=50, cursor=context.cursor, ascending=True)
            for record in changes.records:
                run = context.instance.get_run_by_id(record.event_log_entry.run_id)
                if run is None or run.tags.get("dagster/will_retry") == "true":
                    continue
                plan = _plan_for(context.instance, run, by_job)
                if plan is not None:
                    _record_failure(context, book, sink, run, plan, settings, now)
            _resolve(context.instance, book)
            requests = _relaunch(book, by_job, settings, now)
            return dg.SensorResult(run_requests=requests, cursor=changes.cursor or context.cursor)

    return recovery


# Runs launched from the asset graph ("Materialize") or by dg.materialize use Dagster's implicit jobs.
_IMPLICIT_JOBS = ("__ASSET_JOB", "__ephemeral_asset_job__")


def _plan_for(instance: dg.DagsterInstance, run: dg.DagsterRun, by_job: dict[str, JobPlan]) -> JobPlan | None:
    """The plan of a run's job; for an implicit asset job, the plan whose step failed (its relaunch
    then goes through that named job)."""
    if run.job_name in by_job:
        return by_job[run.job_name]
    if not run.job_name.startswith(_IMPLICIT_JOBS):
        return None
    failures = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_FAILURE, limit=1).records
    if not failures:
        return None
    step = failures[0].event_log_entry.dagster_event.step_key
    return next((plan for plan in by_job.values() if plan.asset_of(step) is not None), None)


def _run_url(settings: Settings, run_id: str) -> str:
    return f"{settings.ui_url.rstrip('/')}/runs/{run_id}"


def _record_failure(context, book, sink, run, plan: JobPlan, settings: Settings, now) -> None:
    found = _failed(context.instance, run, plan)
    if found is None:
        return
    asset, partitions, error = found
    failure_class, text = classify(error), summary(error)
    entries = []
    for partition in partitions:
        entry, _ = book.record(
            spec=plan.spec, job=plan.job, asset=asset.to_user_string(), partition=partition,
            failure_class=failure_class, error=text, run_id=run.run_id,
            log_ref=f"dagster run {run.run_id} ({_run_url(settings, run.run_id)})")
        if entry.status != "open":  # this run was already recorded and its entry has moved on
            continue
        if failure_class == TRANSIENT:
            entry = book.reopen(entry.id, text, run.run_id, next_attempt_at(now, entry.attempts, settings.relaunch_backoff_s))
        entries.append(entry)
    context.log.info(f"run {run.run_id} ({plan.job}): {failure_class} failure of {asset.to_user_string()} "
                     f"for {len(entries)} partition(s): {text[:200]}")
    if not entries:
        return
    first = entries[0]
    if failure_class != TRANSIENT:
        kind = _ALERT_KIND.get(failure_class, "code_failure")
        if failure_class == GATE and "smoke_test" in text:
            kind = "smoke_test_failed"
        _send(context, sink, Alert(kind=kind, title=f"{plan.spec}: {failure_class} failure in {plan.job}",
                        text=f"{asset.to_user_string()} {_days(entries)}: {text[:500]}", spec=plan.spec,
                        run_url=_run_url(settings, run.run_id), ledger_id=first.id,
                        details={"ledger_ids": [e.id for e in entries], "class": failure_class}))
    elif not budget_left(first.attempts, settings.relaunch_budget):
        _send(context, sink, Alert(kind="retries_exhausted",
                        title=f"{plan.spec}: {asset.to_user_string()} still failing after {first.attempts} relaunch(es)",
                        text=f"{_days(entries)}: {text[:500]}; rekick with `batch-training rekick {first.id}` once fixed",
                        spec=plan.spec, run_url=_run_url(settings, run.run_id), ledger_id=first.id,
                        details={"ledger_ids": [e.id for e in entries], "attempts": first.attempts}))


def _send(context, sink, alert: Alert) -> None:
    """An alert that cannot be delivered is logged, never allowed to stop recovery."""
    try:
        sink.send(alert)
    except AlertError as exc:
        context.log.error(f"alert {alert.kind} for ledger #{alert.ledger_id} not delivered: {exc}")


def _days(entries) -> str:
    ranges = contiguous_ranges(e.partition for e in entries)
    return ", ".join(a if a == b else f"{a}..{b}" for a, b in ranges)


def _resolve(instance: dg.DagsterInstance, book) -> None:
    for entry in book.list(status=("open", "rekicked")):
        key = dg.AssetKey.from_user_string(entry.asset)
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[entry.partition]), limit=1, ascending=False).records
        if not records or records[0].timestamp <= entry.updated_at.timestamp():
            continue
        run = instance.get_run_by_id(records[0].run_id)
        if run is not None and run.status == dg.DagsterRunStatus.SUCCESS:  # blocked materializations don't count
            book.resolve(spec=entry.spec, asset=entry.asset, partition=entry.partition, run_id=run.run_id)


def _relaunch(book, by_job: dict[str, JobPlan], settings: Settings, now) -> list[dg.RunRequest]:
    due = [e for e in book.due(now, TRANSIENT) if budget_left(e.attempts, settings.relaunch_budget) and e.job in by_job]
    groups: dict[tuple[str, str], list] = {}
    for entry in due:
        groups.setdefault((entry.job, entry.asset), []).append(entry)
    requests = []
    for (job, asset), entries in sorted(groups.items()):
        plan = by_job[job]
        selection = plan.from_asset(dg.AssetKey.from_user_string(asset))
        for first, last in contiguous_ranges(e.partition for e in entries):
            chunk = [e for e in entries if first <= e.partition <= last]
            ids = sorted(e.id for e in chunk)
            attempt = max(e.attempts for e in chunk) + 1
            tags = {TRIGGER_TAG: "recovery", LEDGER_TAG: ",".join(map(str, ids)),
                    "batch_training/attempt": str(attempt)}
            if first == last:
                request = dg.RunRequest(run_key=f"recovery-{job}-{first}-{'-'.join(map(str, ids))}-a{attempt}",
                                        job_name=job, asset_selection=selection, partition_key=first, tags=tags)
            else:
                tags |= {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
                request = dg.RunRequest(run_key=f"recovery-{job}-{first}-{last}-{ids[0]}-a{attempt}",
                                        job_name=job, asset_selection=selection, tags=tags)
            requests.append(request)
            book.mark_rekicked(ids, request.run_key)
    return requests
