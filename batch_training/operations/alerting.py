"""Which alert a recorded failure raises, and what it says: the spec, the class, the days, the
ledger entries and what to do, in every sink."""

from __future__ import annotations

from batch_training.errors import CODE, CONFIG, DATA, GATE, INFRASTRUCTURE, TRANSIENT
from batch_training.operations.alerts import Alert
from batch_training.operations.planner import FailedRun, days_text

_KIND = {DATA: "data_failure", GATE: "gate_rejected", CONFIG: "config_failure",
         INFRASTRUCTURE: "infrastructure_failure", CODE: "code_failure"}
_WHAT_TO_DO = {
    DATA: "look at the failed check's metadata for each day's cause; fix the DWH rows (then rekick) or ignore the entry",
    GATE: "read the evaluation report; the production model stays as it is",
    CODE: "a bug: read the step's stack trace in the run's log",
}


def failure_alert(run: FailedRun, days: list[str], ledger_ids: list[int]) -> Alert | None:
    """The alert of a non-transient failure (transient ones are relaunched and alert only when
    their budget is spent)."""
    if run.failure_class == TRANSIENT or not days:
        return None
    kind = _KIND.get(run.failure_class, "code_failure")
    if run.failure_class == GATE and "smoke_test" in run.error:
        kind = "smoke_test_failed"
    ids = " ".join(map(str, ledger_ids))
    hint = run.hint or _WHAT_TO_DO.get(run.failure_class, "")
    return Alert(kind=kind, title=f"{run.spec}: {run.failure_class} failure of {run.asset} in {run.job}",
                 text=run.error[:1000], spec=run.spec, run_url=run.run_url, failure_class=run.failure_class,
                 days=days_text(days), ledger_ids=tuple(ledger_ids),
                 hint=f"{hint}; then `batch-training rekick {ids}`" if hint and run.failure_class != GATE else hint,
                 details={"run_id": run.run_id, "job": run.job, "asset": run.asset})


def exhausted_alert(run: FailedRun, days: list[str], ledger_ids: list[int], attempts: int) -> Alert:
    """A transient failure that has used its relaunch budget."""
    ids = " ".join(map(str, ledger_ids))
    return Alert(kind="retries_exhausted", title=f"{run.spec}: {run.asset} still failing after {attempts} relaunch(es)",
                 text=run.error[:1000], spec=run.spec, run_url=run.run_url, failure_class=run.failure_class,
                 days=days_text(days), ledger_ids=tuple(ledger_ids),
                 hint=f"find out why the outside system keeps failing; then `batch-training rekick {ids}`",
                 details={"run_id": run.run_id, "job": run.job, "asset": run.asset, "attempts": attempts})
