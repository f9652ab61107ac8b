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


def failure_alert(steps: list[tuple[FailedRun, list[str], list[int]]]) -> Alert | None:
    """One alert for the failed steps of one run that share a non-transient class: (facts, days,
    ledger ids) of each (transient failures are relaunched and alert only when their budget is spent)."""
    steps = [s for s in steps if s[0].failure_class != TRANSIENT and s[1]]
    if not steps:
        return None
    run = steps[0][0]
    kind = _KIND.get(run.failure_class, "code_failure")
    if run.failure_class == GATE and "smoke_test" in run.error:
        kind = "smoke_test_failed"
    ledger_ids = [i for _, _, ids in steps for i in ids]
    days = sorted({d for _, ds, _ in steps for d in ds})
    assets = ", ".join(s.asset for s, _, _ in steps)
    ids = " ".join(map(str, ledger_ids))
    hint = run.hint or _WHAT_TO_DO.get(run.failure_class, "")
    return Alert(kind=kind, title=f"{run.spec}: {run.failure_class} failure of {assets} in {run.job}",
                 text="\n".join(s.error[:1000] for s, _, _ in steps), spec=run.spec, run_url=run.run_url,
                 failure_class=run.failure_class, days=days_text(days), ledger_ids=tuple(ledger_ids),
                 hint=f"{hint}; then `batch-training rekick {ids}`" if hint and run.failure_class != GATE else hint,
                 link=run.backfill_url or None,
                 details={"run_id": run.run_id, "job": run.job, "assets": [s.asset for s, _, _ in steps]})


def exhausted_alert(run: FailedRun, days: list[str], ledger_ids: list[int], attempts: int) -> Alert:
    """A transient failure that has used its relaunch budget."""
    ids = " ".join(map(str, ledger_ids))
    return Alert(kind="retries_exhausted", title=f"{run.spec}: {run.asset} still failing after {attempts} relaunch(es)",
                 text=run.error[:1000], spec=run.spec, run_url=run.run_url, failure_class=run.failure_class,
                 days=days_text(days), ledger_ids=tuple(ledger_ids),
                 hint=f"find out why the outside system keeps failing; then `batch-training rekick {ids}`",
                 link=run.backfill_url or None,
                 details={"run_id": run.run_id, "job": run.job, "asset": run.asset, "attempts": attempts})
