"""The binary decision threshold and the precision–recall curve it is read from (plain numpy).

The rule (``choose_threshold``): a row is labelled positive when its positive-class probability ``p``
is ``>= threshold``. The candidates are the distinct probabilities of the rows given (the validation
rows of the training days, never the holdout days: see ``batch_training.candidate.fit``); the
threshold is the candidate with the largest F1 of the positive class, and among equal F1 the
smallest candidate. Every labelling of the rows a threshold can make is one candidate, so no other
threshold does better on these rows; of equal F1 the smallest threshold has the higher recall, and
the choice is deterministic (equal ratios of integers are equal floats, so ties are exact).

Without a positive among the rows, or with a NaN probability, F1 says nothing: the threshold is 0.5
(the argmax rule) and ``ThresholdChoice.rule`` says why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_THRESHOLD = 0.5
RULE = "max F1 of the positive class over the validation rows' probabilities (p >= t); ties: smallest t"


@dataclass(frozen=True)
class PRCurve:
    """One point per distinct score, highest score first: labelling ``score >= thresholds[i]`` positive
    gives ``tp[i]`` true and ``fp[i]`` false positives out of ``positives``."""

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    positives: int

    @property
    def precision(self) -> np.ndarray:
        return self.tp / np.maximum(self.tp + self.fp, 1)

    @property
    def recall(self) -> np.ndarray:
        return self.tp / max(self.positives, 1)

    @property
    def f1(self) -> np.ndarray:
        """2 TP / (2 TP + FP + FN), with FN = positives - TP; 0 where undefined (no positive at all)."""
        return 2 * self.tp / np.maximum(self.tp + self.fp + self.positives, 1)


def pr_curve(y_true: np.ndarray, score: np.ndarray) -> PRCurve:
    """The precision–recall curve of ``score`` for the binary labels ``y_true`` (NaN scores not allowed)."""
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(score, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but score has {s.size}")
    if np.isnan(s).any():
        raise ValueError("scores must not be NaN")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True])  # the last row of each group of equal scores
    tp = np.cumsum(y)[last]
    return PRCurve(thresholds=s[last], tp=tp, fp=(last + 1) - tp, positives=int(y.sum()))


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    f1: float | None        # the positive class's F1 at the threshold on the rows it was chosen on
    rows: int
    positives: int
    rule: str = RULE

    def to_dict(self) -> dict:
        return asdict(self)


def choose_threshold(y_true: np.ndarray, score: np.ndarray) -> ThresholdChoice:
    """The threshold of the module's rule for binary labels ``y_true`` (1 = positive) and scores."""
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(score, dtype=float).ravel()
    positives = int(y.sum())
    if positives == 0 or np.isnan(s).any():
        why = "no positive row" if positives == 0 else "a NaN probability"
        return ThresholdChoice(DEFAULT_THRESHOLD, None, int(y.size), positives,
                               rule=f"{DEFAULT_THRESHOLD} (argmax): {why} among the {y.size} rows, F1 is undefined")
    curve = pr_curve(y, s)
    f1 = curve.f1
    best = np.flatnonzero(f1 == f1.max())[-1]  # thresholds run high to low: the last of equals is the smallest
    return ThresholdChoice(float(curve.thresholds[best]), float(f1[best]), int(y.size), positives)
