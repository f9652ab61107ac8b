"""Judge one day of data: schema drift, empty day, quarantine rate, duplicates.

Each function returns a plain ``Verdict``; the Dagster layer turns verdicts into asset check
results. ``combine`` folds the verdicts of many days (a range run) into one that names every day
that failed and why, because Dagster records a check evaluated in a range run without a partition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

from batch_training.cleansing.contract import CleansingResult
from batch_training.cleansing.parse import compatible
from batch_training.cleansing.schema_reference import type_name
from batch_training.spec.tables import QualitySpec, TableSpec

Severity = Literal["WARN", "ERROR"]


@dataclass
class Verdict:
    passed: bool
    severity: Severity
    summary: str
    details: dict[str, object] = field(default_factory=dict)


def schema_drift(raw_schema: pa.Schema, spec: TableSpec, reference: dict[str, dict] | None = None) -> Verdict:
    """Missing, unexpected (a renamed column shows as one missing plus one unexpected) or retyped
    columns. Retyped: a type the contract cannot read, or a type other than the column's declared
    ``raw_type`` (else the type first seen, from ``reference``); an all-NULL column is not retyped."""
    have = {f.name: f.type for f in raw_schema}
    reference = reference or {}
    missing = [c for c in spec.columns if c not in have]
    unexpected = [c for c in have if c not in spec.columns]
    why: dict[str, str] = {}
    for name, arrow_type in have.items():
        contract = spec.columns.get(name)
        now = type_name(arrow_type)
        declared = contract.raw_type if contract is not None else None
        if contract is not None and not compatible(arrow_type, contract.type):
            why[name] = f"{now}, which a {contract.type} column cannot hold"
        elif pa.types.is_null(arrow_type):
            continue
        elif declared is not None and now != declared:
            why[name] = f"{declared} (declared raw_type) -> {now}"
        elif declared is None and name in reference and reference[name]["type"] != now:
            seen = reference[name]
            why[name] = f"{seen['type']} (first seen {seen['first_seen']}) -> {now}"
    retyped = {name: type_name(have[name]) for name in why}
    problems = []
    if missing:
        problems.append(f"missing {missing}")
    if unexpected:
        problems.append(f"unexpected {unexpected}")
    if retyped:
        problems.append("retyped " + ", ".join(f"{c}: {text}" for c, text in why.items()))
    summary = "; ".join(problems) if problems else f"all {len(spec.columns)} contract columns present with usable types"
    details = {"missing": missing, "unexpected": unexpected, "retyped": retyped}
    if why:
        details["changes"] = why
    return Verdict(not problems, "ERROR", summary, details)


def empty_day(rows: int, spec: TableSpec) -> Verdict:
    minimum = spec.quality.min_rows
    if rows >= minimum:
        return Verdict(True, "ERROR", f"{rows} rows (minimum {minimum})", {"rows": rows})
    if spec.source.allow_empty_days:
        return Verdict(True, "WARN", f"{rows} rows, below {minimum}, allowed by the spec", {"rows": rows})
    return Verdict(False, "ERROR", f"{rows} rows, below the minimum of {minimum}", {"rows": rows})


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def quarantine_rate(result: CleansingResult, quality: QualitySpec) -> Verdict:
    rate = _rate(result.rows_quarantined, result.rows_raw)
    details = {"rate": round(rate, 6), "rows_quarantined": result.rows_quarantined, "rows_raw": result.rows_raw,
               "top_reasons": dict(sorted(result.reasons.items(), key=lambda kv: -kv[1])[:5])}
    if rate > quality.quarantine_max_rate:
        return Verdict(False, "ERROR", f"{rate:.2%} quarantined, above the maximum {quality.quarantine_max_rate:.2%}", details)
    if rate > quality.quarantine_warn_rate:
        return Verdict(False, "WARN", f"{rate:.2%} quarantined, above the warning level {quality.quarantine_warn_rate:.2%}", details)
    return Verdict(True, "WARN", f"{rate:.2%} quarantined", details)


def duplicates(result: CleansingResult, quality: QualitySpec) -> Verdict:
    rate = _rate(result.duplicates, result.rows_raw)
    details = {"duplicates": result.duplicates, "rate": round(rate, 6)}
    if rate > quality.duplicate_warn_rate:
        return Verdict(False, "WARN", f"{result.duplicates} duplicate rows ({rate:.2%}), above {quality.duplicate_warn_rate:.2%}", details)
    return Verdict(True, "WARN", f"{result.duplicates} duplicate rows ({rate:.2%})", details)


def _days_text(days: list[str], limit: int = 10) -> str:
    return ", ".join(days[:limit]) + (" ..." if len(days) > limit else "")


def combine(by_day: dict[str, Verdict]) -> Verdict:
    """One verdict for many days: failed if any day failed, as severe as the worst failing day. Its
    details name every failing day with its cause, the ERROR days (which block) apart from the WARN
    days (which do not)."""
    failed = {day: v for day, v in by_day.items() if not v.passed}
    if not by_day:
        return Verdict(True, "WARN", "no days evaluated")
    if len(by_day) == 1:
        return next(iter(by_day.values()))
    errors = {day: v.summary for day, v in sorted(failed.items()) if v.severity == "ERROR"}
    warnings = {day: v.summary for day, v in sorted(failed.items()) if v.severity != "ERROR"}
    parts = [f"{len(found)} of {len(by_day)} days {label}: {_days_text(list(found))}"
             for label, found in (("ERROR", errors), ("WARN", warnings)) if found]
    summary = "; ".join(parts) if failed else f"all {len(by_day)} days passed"
    details = {"days": len(by_day), "days_failed": len(failed), "failed": {**errors, **warnings},
               "errors": errors, "warnings": warnings}
    return Verdict(not failed, "ERROR" if errors else "WARN", summary, details)


def conservation(rows: int, dwh_rows: int) -> Verdict:
    """Every row the DWH counts for the day is in raw, and no other: the DWH's own count(*)."""
    details = {"rows": rows, "dwh_rows": dwh_rows}
    if rows == dwh_rows:
        return Verdict(True, "ERROR", f"{rows} rows, as the DWH counts", details)
    return Verdict(False, "ERROR", f"raw has {rows} rows but the DWH counts {dwh_rows} for this day", details)
