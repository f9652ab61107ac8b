"""Record the failed steps of a run in the failure ledger: one entry per failed partition, exactly
once per run (the ledger dedupes by run id), a transient failure's next attempt spaced by the backoff,
one alert per failure class that is new, and the days that only waited on another day's failure.

The facts come from the run store (``defs/automation/facts.py`` reads them from Dagster); everything
decided from them is here. ``log`` is any logger with ``info`` and ``error`` (a Dagster context's).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from batch_training.errors import TRANSIENT
from batch_training.operations.alerting import exhausted_alert, failure_alert
from batch_training.operations.alerts import Alert, AlertError, AlertSink
from batch_training.operations.ledger import Ledger
from batch_training.operations.planner import FailedRun, budget_left, next_attempt_at, plan_failure
from batch_training.settings import Settings


@dataclass
class Recorded:
    """What was recorded of one failed step of a run."""

    run: FailedRun
    entries: list = field(default_factory=list)       # the ledger entries of the failed partitions
    new: bool = False                                 # anything recorded for the first time
    continue_days: tuple[str, ...] = ()               # days to run on from the step after the failed one


def run_url(settings: Settings, run_id: str) -> str:
    return f"{settings.ui_url.rstrip('/')}/runs/{run_id}"


def _record_step(facts: FailedRun, book: Ledger, settings: Settings, now: dt.datetime) -> Recorded:
    decided = plan_failure(facts)
    out = Recorded(facts, continue_days=decided.continue_days)
    for partition in decided.failed:
        entry, outcome = book.record(
            spec=facts.spec, job=facts.job, asset=facts.asset, partition=partition,
            failure_class=facts.failure_class, error=facts.error, run_id=facts.run_id,
            log_ref=f"dagster run {facts.run_id} ({facts.run_url})")
        if outcome != "seen" and facts.failure_class == TRANSIENT:
            entry = book.reopen(entry.id, facts.error, facts.run_id,
                                next_attempt_at(now, entry.attempts, settings.relaunch_backoff_s))
        out.new |= outcome != "seen"
        out.entries.append(entry)
    return out


def record_failed_steps(steps: list[FailedRun], book: Ledger, sink: AlertSink, settings: Settings,
                        now: dt.datetime, log=None) -> list[Recorded]:
    """Each failed step of one run in the ledger; one alert per failure class that is new."""
    recorded = [_record_step(facts, book, settings, now) for facts in steps]
    for r in recorded:
        if log is not None:
            log.info(f"run {r.run.run_id} ({r.run.job}): {r.run.failure_class} failure of {r.run.asset} for "
                     f"{len(r.entries)} partition(s): {r.run.error[:200]}")
    fresh = [r for r in recorded if r.new and r.entries]
    for failure_class in dict.fromkeys(r.run.failure_class for r in fresh):
        same = [r for r in fresh if r.run.failure_class == failure_class]
        if failure_class == TRANSIENT:  # relaunched within the budget; alerted once it is spent
            spent = [r for r in same if not budget_left(r.entries[0].attempts, settings.relaunch_budget)]
            alert = exhausted_alert(spent[0].run, [e.partition for r in spent for e in r.entries],
                                    [e.id for r in spent for e in r.entries], spent[0].entries[0].attempts) \
                if spent else None
        else:
            alert = failure_alert([(r.run, [e.partition for e in r.entries], [e.id for e in r.entries]) for r in same])
        if alert is not None:
            send(sink, alert, log)
    return recorded


def send(sink: AlertSink, alert: Alert, log=None) -> None:
    """An alert that cannot be delivered is logged, never allowed to stop recovery."""
    try:
        sink.send(alert)
    except AlertError as exc:
        if log is not None:
            log.error(f"alert {alert.kind} for ledger {list(alert.ledger_ids)} not delivered: {exc}")
