"""Read what a failed run did from Dagster's run and event storage, into the plain facts the core
planner decides on (``batch_training.operations.planner.FailedRun``)."""

from __future__ import annotations

import dagster as dg
from dagster import DagsterEventType

from batch_training.defs.automation.plans import JobPlan, planned_partitions
from batch_training.errors import DATA, GATE, TRANSIENT
from batch_training.operations import tags
from batch_training.operations.classify import HINT_KEY, classify_record, summary
from batch_training.operations.planner import FailedRun

GATE_CHECKS = ("gate", "smoke_test")


def _events(instance: dg.DagsterInstance, run_id: str, kind: DagsterEventType) -> list:
    return [r.event_log_entry for r in instance.get_records_for_run(run_id, of_type=kind).records]


def _materialized(instance: dg.DagsterInstance, run_id: str, asset: dg.AssetKey) -> frozenset[str]:
    found = set()
    for entry in _events(instance, run_id, DagsterEventType.ASSET_MATERIALIZATION):
        event = entry.dagster_event
        if event.asset_key == asset and event.partition is not None:
            found.add(event.partition)
    return frozenset(found)


def _failed_blocking_checks(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list:
    """The check evaluations of this run that failed with ERROR on a blocking check."""
    out = []
    for entry in _events(instance, run.run_id, DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data
        if not evaluation.passed and evaluation.blocking and evaluation.severity == dg.AssetCheckSeverity.ERROR:
            out.append(evaluation)
    return out


def _error_days(evaluations: list, run: dg.DagsterRun) -> dict[str, str]:
    """Day -> cause from the failed checks' own verdicts (a range run names its ERROR days in the
    metadata; a one-day evaluation is for its partition)."""
    days: dict[str, str] = {}
    for evaluation in evaluations:
        errors = evaluation.metadata.get("errors")
        if errors is not None:
            for day, cause in (errors.value or {}).items():
                days.setdefault(day, f"{evaluation.check_name}: {cause}")
        else:
            day = evaluation.partition or run.tags.get(tags.PARTITION)
            if day:
                days.setdefault(day, f"{evaluation.check_name}: {evaluation.description or 'failed'}")
    return days


def _missing_asset(instance: dg.DagsterInstance, run: dg.DagsterRun, plan: JobPlan, planned: list[str]):
    """For a run that ended without a step failure (its process died): the first asset of the job
    that is not materialized for every planned partition."""
    selected = set(run.asset_selection or plan.assets)
    for key in plan.assets:
        if key in selected and set(planned) - _materialized(instance, run.run_id, key):
            return key
    return None


def _from_step_failure(instance: dg.DagsterInstance, run: dg.DagsterRun, plan: JobPlan, entry) -> dict | None:
    event = entry.dagster_event
    asset = plan.asset_of(event.step_key)
    if asset is None:
        return None
    data = event.event_specific_data
    metadata = {k: v.value for k, v in ((data.user_failure_data.metadata or {}) if data.user_failure_data else {}).items()}
    error = data.error
    facts = {"asset": asset, "failure_class": classify_record(error, metadata), "check_errors": None,
             "error": summary(error) if error is not None else (event.message or "step failed"),
             "hint": str(metadata.get(HINT_KEY) or "")}
    if error is not None and error.cls_name == "DagsterAssetCheckFailedError":
        step_keys = set(plan.steps_keys(event.step_key))
        checks = [c for c in _failed_blocking_checks(instance, run) if c.asset_key in step_keys]
        facts["failure_class"] = GATE if any(c.check_name in GATE_CHECKS for c in checks) else DATA
        facts["check_errors"] = _error_days(checks, run)
        facts["error"] = "; ".join(f"{c.asset_key.to_user_string()} {c.check_name}: {c.description}"
                                   for c in checks) or facts["error"]
    return facts


def failed_steps(instance: dg.DagsterInstance, run: dg.DagsterRun, plan: JobPlan, run_url: str,
                 backfill_url: str = "") -> list[FailedRun]:
    """One ``FailedRun`` per failed step of the run (two tables' extracts can fail in one run), or
    one for a run that ended without a step failure (its process died)."""
    planned = planned_partitions(run, plan)
    found = [f for f in (_from_step_failure(instance, run, plan, e)
                         for e in _events(instance, run.run_id, DagsterEventType.STEP_FAILURE)) if f]
    if not found and not _events(instance, run.run_id, DagsterEventType.STEP_FAILURE):
        asset = _missing_asset(instance, run, plan, planned)
        if asset is not None:
            ended = _events(instance, run.run_id, DagsterEventType.RUN_FAILURE)
            message = (ended[-1].dagster_event.message if ended and ended[-1].dagster_event else "")
            # the run's process died (killed, out of memory, machine lost): run it again
            found = [{"asset": asset, "failure_class": TRANSIENT, "check_errors": None, "hint": "",
                      "error": message or "the run ended without a step failure"}]
    seen, out = set(), []
    for facts in found:
        asset = facts.pop("asset")
        if asset in seen:  # a step that failed, retried and failed again: recorded once
            continue
        seen.add(asset)
        out.append(FailedRun(
            run_id=run.run_id, spec=plan.spec, job=plan.job, asset=asset.to_user_string(), planned=tuple(planned),
            materialized=_materialized(instance, run.run_id, asset), run_url=run_url, backfill_url=backfill_url,
            later_steps=tuple(k.to_user_string() for k in plan.after(asset)), **facts))
    return out
