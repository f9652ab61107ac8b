"""Record a failed run in the failure ledger, whichever way it was launched (schedule, sensor, UI,
CLI): one entry per failed partition, exactly once per run (the ledger dedupes by run id), an alert
when something new was recorded, and the days that only waited on another day's failure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import dagster as dg

from batch_training.errors import TRANSIENT
from batch_training.operations.alerting import exhausted_alert, failure_alert
from batch_training.operations.alerts import Alert, AlertError, AlertSink
from batch_training.operations.planner import FailedRun, budget_left, next_attempt_at, plan_failure
from batch_training.defs.automation.facts import failed_run
from batch_training.defs.automation.plans import JobPlan
from batch_training.settings import Settings


@dataclass
class Recorded:
    run: FailedRun
    entries: list = field(default_factory=list)       # the ledger entries of the failed partitions
    new: bool = False                                 # anything recorded for the first time
    continue_days: tuple[str, ...] = ()               # days to run on from the step after the failed one
    alert: Alert | None = None


def run_url(settings: Settings, run_id: str) -> str:
    return f"{settings.ui_url.rstrip('/')}/runs/{run_id}"


def record_failed_run(instance: dg.DagsterInstance, run: dg.DagsterRun, plan: JobPlan, book, sink: AlertSink,
                      settings: Settings, now: dt.datetime, log=None) -> Recorded | None:
    facts = failed_run(instance, run, plan, run_url(settings, run.run_id))
    if facts is None:
        return None
    decided = plan_failure(facts)
    out = Recorded(facts, continue_days=decided.continue_days)
    for partition in decided.failed:
        entry, outcome = book.record(
            spec=facts.spec, job=facts.job, asset=facts.asset, partition=partition,
            failure_class=facts.failure_class, error=facts.error, run_id=run.run_id,
            log_ref=f"dagster run {run.run_id} ({facts.run_url})")
        if outcome != "seen" and facts.failure_class == TRANSIENT:
            entry = book.reopen(entry.id, facts.error, run.run_id,
                                next_attempt_at(now, entry.attempts, settings.relaunch_backoff_s))
        out.new |= outcome != "seen"
        out.entries.append(entry)
    if log is not None:
        log.info(f"run {run.run_id} ({plan.job}): {facts.failure_class} failure of {facts.asset} for "
                 f"{len(out.entries)} partition(s): {facts.error[:200]}")
    if not out.new:
        return out
    days, ids = [e.partition for e in out.entries], [e.id for e in out.entries]
    out.alert = failure_alert(facts, days, ids)
    if facts.failure_class == TRANSIENT and out.entries and not budget_left(out.entries[0].attempts, settings.relaunch_budget):
        out.alert = exhausted_alert(facts, days, ids, out.entries[0].attempts)
    if out.alert is not None:
        send(sink, out.alert, log)
    return out


def send(sink: AlertSink, alert: Alert, log=None) -> None:
    """An alert that cannot be delivered is logged, never allowed to stop recovery."""
    try:
        sink.send(alert)
    except AlertError as exc:
        if log is not None:
            log.error(f"alert {alert.kind} for ledger {list(alert.ledger_ids)} not delivered: {exc}")
