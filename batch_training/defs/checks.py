"""Turn core verdicts into Dagster asset check results."""

from __future__ import annotations

import dagster as dg

from batch_training.cleansing.checks import Verdict, combine


def check_result(name: str, asset_key: dg.AssetKey, by_day: dict[str, Verdict]) -> dg.AssetCheckResult:
    """One result for the days of this run; per-day outcomes live in its metadata (Dagster records a
    check evaluated in a range run without a partition, so the days must be named here)."""
    verdict = combine(by_day)
    metadata: dict[str, object] = {"summary": verdict.summary, "days": sorted(by_day)[:1] + sorted(by_day)[-1:]}
    for key, value in verdict.details.items():
        metadata[key] = dg.MetadataValue.json(value) if isinstance(value, (dict, list)) else value
    if len(by_day) == 1 and not verdict.passed:  # a range of one day: the day is named like any range's
        failing = "errors" if verdict.severity == "ERROR" else "warnings"
        metadata.setdefault(failing, dg.MetadataValue.json({next(iter(by_day)): verdict.summary}))
    return dg.AssetCheckResult(
        asset_key=asset_key, check_name=name, passed=verdict.passed,
        severity=dg.AssetCheckSeverity.ERROR if verdict.severity == "ERROR" else dg.AssetCheckSeverity.WARN,
        description=verdict.summary, metadata=metadata,
    )
