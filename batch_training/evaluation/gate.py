"""The ship / no-ship decision. Lower metric is better. Each rule is recorded whether it passed.

Regression (metric MAE):

- ``beats_naive``: candidate <= naive * (1 - min_improvement_over_naive)

Classification (metric log loss; binary labels at the model's decision threshold, multiclass at argmax):

- ``not_degenerate``: the candidate's labels take at least two classes over the holdout rows. One
  label for every row is no classifier, whatever its log loss (an untrained net, a collapsed one).
- ``beats_class_prior``: candidate log loss <= class-prior ("constant") baseline's log loss *
  (1 - min_improvement_over_naive): the spec's one improvement share, against the baseline a
  classifier has (a naive rule applies to regression only).
- ``auc_above_chance``: candidate AUC >= 0.5 + min_auc_margin: it must rank the classes better than a
  coin, which log loss alone does not show (priors alone beat a badly calibrated ranker).

Both tasks:

- ``not_worse_than_champion``: candidate <= champion * (1 + champion_tolerance)
- ``slices``: every slice with at least ``slice_min_rows`` candidate rows, present in the reference,
  stays within reference * (1 + slice_tolerance); smaller slices are noted, never gated.

A NaN or infinite candidate metric fails (overall and per gated slice), even with no baseline or
champion to compare with. A reference whose own metric is not finite cannot be compared with: the rule
records that and does not gate on it. An override ships a failing candidate but keeps every failure.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batch_training.spec.training import GateSpec


@dataclass
class GateDecision:
    passed: bool
    checks: list[dict]
    reasons: list[str]
    metric: str
    overridden: bool = False
    override_reason: str | None = None
    notes: list[str] = field(default_factory=list)  # informative only, e.g. small slices that got worse

    def to_dict(self) -> dict:
        return asdict(self)


def _value(metrics: dict | None, metric: str) -> float:
    try:
        return float((metrics or {}).get(metric, math.nan))
    except (TypeError, ValueError):
        return math.nan


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _relative_rule(rule: str, metric: str, cand: float, ref_name: str, ref: dict | None,
                   factor: float, absent: str) -> dict:
    if not math.isfinite(cand):
        return {"rule": rule, "passed": False, "detail": f"candidate {metric} is {cand}, not a usable metric"}
    if ref is None:
        return {"rule": rule, "passed": True, "detail": absent}
    ref_value = _value(ref, metric)
    if not math.isfinite(ref_value):
        return {"rule": rule, "passed": True, "detail": f"{ref_name} {metric} is {ref_value}; not compared"}
    limit = ref_value * factor
    passed = cand <= limit
    return {"rule": rule, "passed": passed, "candidate": cand, "reference": ref_value, "limit": limit,
            "detail": f"candidate {metric} {_fmt(cand)} {'<=' if passed else '>'} limit {_fmt(limit)} "
                      f"({ref_name} {_fmt(ref_value)} x {factor:g})"}


def _slice_checks(metric: str, candidate_slices: dict, reference_slices: dict | None, tolerance: float,
                  min_rows: int) -> tuple[list[dict], list[str]]:
    if not reference_slices:
        detail = "no slices declared" if not candidate_slices else "no reference slices to compare with"
        return [{"rule": "slices", "passed": True, "detail": detail}], []
    failed, notes, gated = [], [], 0
    for column, values in (candidate_slices or {}).items():
        ref_values = reference_slices.get(column) or {}
        for value, metrics in values.items():
            if value not in ref_values:
                continue
            cand, ref, n = _value(metrics, metric), _value(ref_values[value], metric), int(metrics.get("n", 0))
            if n >= min_rows and not math.isfinite(ref):
                notes.append(f"slice {column}={value}: reference {metric} is {ref}; not compared")
                continue
            limit = ref * (1 + tolerance)
            worse = not (cand <= limit)  # NaN candidate counts as worse
            if n < min_rows:
                if worse:
                    notes.append(f"slice {column}={value} (n={n} < {min_rows}, not gated): {metric} "
                                 f"{_fmt(cand)} > {_fmt(limit)}")
                continue
            gated += 1
            if worse:
                failed.append({"rule": "slices", "passed": False, "column": column, "value": value, "n": n,
                               "candidate": cand, "reference": ref, "limit": limit,
                               "detail": f"slice {column}={value} (n={n}): candidate {metric} {_fmt(cand)} > "
                                         f"limit {_fmt(limit)} (reference {_fmt(ref)} x {1 + tolerance:g})"})
    if failed:
        return failed, notes
    return [{"rule": "slices", "passed": True,
             "detail": f"{gated} slice(s) with n >= {min_rows} within {1 + tolerance:g}x the reference"}], notes


def _auc_rule(candidate: dict, margin: float) -> dict:
    auc, need = _value(candidate, "auc"), 0.5 + margin
    if not math.isfinite(auc):
        return {"rule": "auc_above_chance", "passed": False,
                "detail": f"candidate AUC is {auc}, not a usable metric (NaN probabilities, or one class in the "
                          "holdout rows)"}
    passed = auc >= need
    return {"rule": "auc_above_chance", "passed": passed, "candidate": auc, "limit": need,
            "detail": f"candidate AUC {_fmt(auc)} {'>=' if passed else '<'} {_fmt(need)} "
                      f"(0.5 + min_auc_margin {margin:g})"}


def _degenerate_rule(task: str, candidate: dict) -> dict:
    classes, n = _value(candidate, "predicted_classes"), int((candidate or {}).get("n") or 0)
    where = "at the decision threshold" if task == "binary" else "at argmax"
    if not math.isfinite(classes):
        return {"rule": "not_degenerate", "passed": False,
                "detail": f"the candidate's labels are unusable ({where}: NaN probabilities or no rows)"}
    passed = classes >= 2
    detail = (f"the candidate's labels take {int(classes)} classes over the {n} holdout rows ({where})" if passed
              else f"all {n} holdout rows get the same label ({where})")
    return {"rule": "not_degenerate", "passed": passed, "candidate": int(classes), "detail": detail}


def _baseline_checks(task: str, metric: str, cand: float, candidate: dict, naive: dict | None,
                     constant: dict | None, gate: GateSpec) -> list[dict]:
    if task == "regression":
        return [_relative_rule("beats_naive", metric, cand, "naive", naive, 1 - gate.min_improvement_over_naive,
                               "no naive baseline declared")]
    if task not in ("binary", "multiclass"):
        raise ValueError(f"unknown task {task!r}")
    if constant is None:
        raise ValueError("a classifier's gate needs the class-prior (constant) baseline's metrics")
    return [_degenerate_rule(task, candidate),
            _relative_rule("beats_class_prior", metric, cand, "class prior", constant,
                           1 - gate.min_improvement_over_naive, "no class-prior baseline"),
            _auc_rule(candidate, gate.min_auc_margin)]


def decide(*, task: str, metric: str, candidate: dict, naive: dict | None, champion: dict | None,
           candidate_slices: dict[str, dict[str, dict]], reference_slices: dict[str, dict[str, dict]] | None,
           gate: GateSpec, slice_min_rows: int, constant: dict | None = None,
           override_reason: str | None = None) -> GateDecision:
    """Apply the gate of ``task``'s rules (module doc). ``constant`` is the class-prior baseline's
    metrics, required for a classifier. ``reference_slices`` are the champion's slices when a champion
    exists, else the naive baseline's (the caller picks). ``override_reason`` ships the candidate
    regardless; a blank one is refused so every override says why."""
    if override_reason is not None and (not isinstance(override_reason, str) or not override_reason.strip()):
        raise ValueError("override_reason must be a non-empty sentence saying why the gate is overridden")
    if slice_min_rows < 1:
        raise ValueError("slice_min_rows must be >= 1")
    cand = _value(candidate, metric)
    checks = _baseline_checks(task, metric, cand, candidate, naive, constant, gate) + [
        _relative_rule("not_worse_than_champion", metric, cand, "champion", champion,
                       1 + gate.champion_tolerance, "no champion"),
    ]
    slice_checks, notes = _slice_checks(metric, candidate_slices, reference_slices, gate.slice_tolerance,
                                        slice_min_rows)
    checks += slice_checks
    reasons = [_reason(c) for c in checks if not c["passed"]]
    overridden = override_reason is not None
    return GateDecision(passed=not reasons or overridden, checks=checks, reasons=reasons, metric=metric,
                        overridden=overridden,
                        override_reason=override_reason.strip() if overridden else None, notes=notes)


_RULE_SENTENCE = {
    "beats_naive": "The candidate does not beat the naive baseline",
    "not_degenerate": "The candidate is degenerate: it predicts one class for every holdout row",
    "beats_class_prior": "The candidate does not beat the class-prior baseline",
    "auc_above_chance": "The candidate does not rank the classes clearly better than chance",
    "not_worse_than_champion": "The candidate is worse than the production champion",
    "slices": "The candidate is worse than the reference on a gated slice",
}


def _reason(check: dict) -> str:
    return f"{_RULE_SENTENCE[check['rule']]}: {check['detail']}."
