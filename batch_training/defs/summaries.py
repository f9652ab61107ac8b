"""What an in-process run did, for the command line: the days each asset materialized (also those
of a run that failed part way), the row totals, and each check's outcome with every failing day
and its cause, the ERROR days apart from the WARN days."""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg


@dataclass
class CheckOutcome:
    passed: bool
    severity: str                       # "ERROR" or "WARN"
    summary: str
    errors: dict[str, str] = field(default_factory=dict)    # day -> cause, ERROR days (they block)
    warnings: dict[str, str] = field(default_factory=dict)  # day -> cause, WARN days


def check_outcome(evaluation: dg.AssetCheckEvaluation, run_partition: str | None = None) -> CheckOutcome:
    """One evaluation's outcome: its failing days from its metadata (a range run's), or its own
    partition (a one-day run's)."""
    severity = evaluation.severity.value
    meta = evaluation.metadata
    errors = dict(meta["errors"].value) if "errors" in meta else {}
    warnings = dict(meta["warnings"].value) if "warnings" in meta else {}
    day = evaluation.partition or run_partition
    if not evaluation.passed and not errors and not warnings and day:
        (errors if severity == "ERROR" else warnings)[day] = evaluation.description or "failed"
    return CheckOutcome(evaluation.passed, severity, evaluation.description or "", errors, warnings)


def check_outcomes(result: dg.ExecuteInProcessResult, run_partition: str | None = None) -> dict[str, CheckOutcome]:
    """``asset:check`` -> outcome; a one-day evaluation names its own partition."""
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": check_outcome(e, run_partition)
            for e in result.get_asset_check_evaluations()}


def materialized_days(result: dg.ExecuteInProcessResult) -> dict[str, set[str]]:
    """Asset (its key without the spec: ``raw``, ``weather/raw``) -> the partitions this run
    materialized, partial ones included."""
    days: dict[str, set[str]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        days.setdefault("/".join(mat.asset_key.path[1:]), set()).add(mat.partition or "")
    return days


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    failures = result.get_step_failure_events()
    return "; ".join(f"{e.step_key}: {e.event_specific_data.error.message.strip()}" for e in failures) or "run failed"


def format_checks(checks: dict[str, CheckOutcome], limit: int = 10) -> list[str]:
    """Lines for the command line: each failed check, then its ERROR days and its WARN days."""
    lines = []
    for name, outcome in sorted(checks.items()):
        if outcome.passed:
            lines.append(f"  check {name}: passed")
            continue
        counts = ", ".join(f"{len(days)} day(s) {label}" for label, days in
                           (("ERROR (blocking)", outcome.errors), ("WARN", outcome.warnings)) if days)
        lines.append(f"  check {name}: {outcome.severity}: {counts or outcome.summary}")
        for label, days in (("ERROR", outcome.errors), ("WARN", outcome.warnings)):
            shown = list(days.items())[:limit]
            lines += [f"    {label:<5} {day}: {cause}" for day, cause in shown]
            if len(days) > limit:
                lines.append(f"    {label:<5} ... and {len(days) - limit} more day(s) (the check's metadata lists them)")
    return lines
