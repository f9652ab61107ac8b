"""Drift of one day's features against the training window's reference profile.

Per feature:
- ``psi``: population stability index over the reference's bins (numeric: its quantile bins;
  categorical: its top categories plus the pooled rest, where a value training never saw also falls),
  ``sum((p_day - p_ref) * ln(p_day / p_ref))`` with both shares floored at ``EPSILON`` so an empty bin
  gives a large finite term rather than infinity (the shares are not renormalised after flooring).
  Shares are of the present values; None when the day or the reference has no present value.
- ``unseen_share`` (categorical): share of the day's present values that training never saw.
- ``missing_rate``, ``missing_increase``: the day's missing rate, and that minus the reference's.

The level is the worst of the features': ERROR or WARN where a number is above the spec's
``monitoring`` threshold. A day without rows cannot be judged: it reports ``rows=0``, no numbers, and
WARN ("no rows"), so silence is never mistaken for stability.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from batch_training.monitoring.profile import (
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    Table,
    bin_counts,
    category_counts,
    floats,
)
from batch_training.spec.tables import MonitoringSpec

EPSILON = 1e-4
Level = Literal["OK", "WARN", "ERROR"]
_RANK = {"OK": 0, "WARN": 1, "ERROR": 2}


def psi(day_shares: list[float], reference_shares: list[float], epsilon: float = EPSILON) -> float:
    """Population stability index of two share vectors over the same bins (see the module's doc)."""
    p = np.maximum(np.asarray(day_shares, np.float64), epsilon)
    q = np.maximum(np.asarray(reference_shares, np.float64), epsilon)
    return float(np.sum((p - q) * np.log(p / q)))


@dataclass
class FeatureDrift:
    name: str
    kind: Literal["numeric", "categorical"]
    rows: int                            # the day's rows
    psi: float | None                    # None: no present value on the day or in the reference
    unseen_share: float | None           # categorical only; None for numeric or no present value
    missing_rate: float | None           # None on a day without rows
    reference_missing_rate: float
    level: Level = "OK"
    reasons: list[str] = field(default_factory=list)
    judged: bool = True                  # False: reported, never raises the level (see ``drift``)

    @property
    def missing_increase(self) -> float | None:
        return None if self.missing_rate is None else self.missing_rate - self.reference_missing_rate

    def to_dict(self) -> dict:
        return {**asdict(self), "missing_increase": self.missing_increase}


@dataclass
class DriftReport:
    rows: int
    level: Level
    features: list[FeatureDrift]
    reasons: list[str] = field(default_factory=list)

    def top(self, n: int = 5) -> list[FeatureDrift]:
        """The ``n`` features with the highest PSI, highest first (features without a PSI left out)."""
        scored = [f for f in self.features if f.psi is not None]
        return sorted(scored, key=lambda f: (-f.psi, f.name))[:n]

    def feature(self, name: str) -> FeatureDrift:
        return next(f for f in self.features if f.name == name)

    def to_dict(self, top: int = 5) -> dict:
        return {"rows": self.rows, "level": self.level, "reasons": self.reasons,
                "top": [f.name for f in self.top(top)], "features": [f.to_dict() for f in self.features]}


def _numeric(ref: NumericProfile, day: Table) -> FeatureDrift:
    values = floats(day, ref.name)
    missing = int(np.isnan(values).sum())
    counts = bin_counts(values, ref.edges)
    present = len(values) - missing
    value = psi([c / present for c in counts], ref.shares) if present and ref.shares else None
    return FeatureDrift(ref.name, "numeric", len(values), value, None,
                        missing / len(values) if len(values) else None, ref.missing_rate)


def _categorical(ref: CategoricalProfile, day: Table) -> FeatureDrift:
    counts, missing = category_counts(day, ref.name)
    present = sum(counts.values())
    rows = present + missing
    known = ref.known()
    unseen = sum(n for c, n in counts.items() if c not in known)
    in_bins = [counts.get(c, 0) for c in ref.bins]
    shares = [n / present for n in [*in_bins, present - sum(in_bins)]] if present else []
    return FeatureDrift(ref.name, "categorical", rows, psi(shares, ref.shares) if shares and ref.shares else None,
                        unseen / present if present else None, missing / rows if rows else None, ref.missing_rate)


def _judge(f: FeatureDrift, t: MonitoringSpec) -> None:
    checks = [("psi", f.psi, t.psi_warn, t.psi_error), ("unseen share", f.unseen_share, t.unseen_warn, t.unseen_error),
              ("missing rate increase", f.missing_increase, t.missing_warn, t.missing_error)]
    for label, value, warn, error in checks:
        if value is None:
            continue
        level: Level = "ERROR" if value > error else "WARN" if value > warn else "OK"
        if level != "OK":
            f.reasons.append(f"{f.name}: {label} {value:.4f} above {error if level == 'ERROR' else warn}")
            if _RANK[level] > _RANK[f.level]:
                f.level = level


def drift(profile: ReferenceProfile, day: Table, thresholds: MonitoringSpec,
          not_judged: frozenset[str] | set[str] = frozenset()) -> DriftReport:
    """The drift of ``day`` (an Arrow table or DataFrame with the profile's features) against ``profile``.
    Features in ``not_judged`` get their numbers but never raise the level: one day of them cannot look
    like a training window (see ``day_level_features``)."""
    features = [_numeric(ref, day) for ref in profile.numeric] + [_categorical(ref, day) for ref in profile.categorical]
    rows = len(day)
    if rows == 0:
        return DriftReport(0, "WARN", features, ["no rows: drift not measured"])
    for f in features:
        if f.name in not_judged:
            f.judged = False
        else:
            _judge(f, thresholds)
    level = max((f.level for f in features), key=_RANK.__getitem__, default="OK")
    return DriftReport(rows, level, features, [r for f in features for r in f.reasons])


def day_level_features(spec) -> frozenset[str]:
    """Features whose one-day distribution differs from any training window by construction: the
    calendar of the partition column (a day has one weekday and one month) and those the spec names
    in ``monitoring.not_judged`` (e.g. one day's weather: a few hourly readings per station)."""
    calendar = {name for name, d in spec.derived.items()
                if d.op in ("day_of_week", "month") and d.of == spec.source.partition_column}
    return frozenset(calendar | set(spec.monitoring.not_judged))
