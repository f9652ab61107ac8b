"""Baselines a candidate is compared with: the spec's naive rule and a constant (mean / class priors).
Both are fitted on the training rows only, then applied to the evaluation rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from batch_training.evaluation.metrics import Task

if TYPE_CHECKING:
    from batch_training.spec.training import NaiveRule


def _finite_mean(values: np.ndarray, what: str) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError(f"no finite {what} to fit a baseline on")
    return float(v.mean())


def naive_rule_prediction(rule: NaiveRule, train_feature: np.ndarray, train_target: np.ndarray,
                          eval_feature: np.ndarray) -> np.ndarray:
    """The naive rule's prediction for the evaluation rows.

    ``feature_plus_offset``: ``eval_feature + mean(train_target - train_feature)``, the mean taken over
    training rows where both are finite. ``feature``: ``eval_feature`` as is. An evaluation row whose
    feature is NaN (or missing) gets ``mean(train_target)`` instead, so the baseline scores every row
    the candidate scores. Raises ValueError when the training rows cannot fit the rule.
    """
    x_train = np.asarray(train_feature, dtype=float).ravel()
    y_train = np.asarray(train_target, dtype=float).ravel()
    if x_train.shape != y_train.shape:
        raise ValueError(f"train_feature has {x_train.size} rows but train_target has {y_train.size}")
    x_eval = np.asarray(eval_feature, dtype=float).ravel()
    fill = _finite_mean(y_train, "training target values")
    if rule.kind == "feature_plus_offset":
        both = np.isfinite(x_train) & np.isfinite(y_train)
        offset = _finite_mean(y_train[both] - x_train[both], f"training rows with both {rule.feature!r} and target")
        pred = x_eval + offset
    elif rule.kind == "feature":
        pred = x_eval.copy()
    else:  # pragma: no cover - the spec's Literal forbids it
        raise ValueError(f"unknown naive rule {rule.kind!r}")
    return np.where(np.isfinite(x_eval), pred, fill)


def constant_prediction(task: Task, train_target: np.ndarray, n: int, n_classes: int | None = None) -> np.ndarray:
    """The best constant: the training mean for regression ([n]); for classification the class priors
    with Laplace smoothing, ``(count + 1) / (total + k)``, repeated for each row ([n, k]). ``n_classes``
    defaults to 2 for binary and to the largest training label + 1 for multiclass."""
    if n < 0:
        raise ValueError("n must be >= 0")
    if task == "regression":
        return np.full(n, _finite_mean(train_target, "training target values"))
    if task not in ("binary", "multiclass"):
        raise ValueError(f"unknown task {task!r}")
    labels = np.asarray(train_target).ravel()
    labels = labels[np.isfinite(labels.astype(float))].astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError("class labels must be >= 0")
    k = n_classes if n_classes is not None else (2 if task == "binary" else int(labels.max(initial=0)) + 1)
    if k < 2 or (labels.size and labels.max() >= k):
        raise ValueError(f"n_classes={k} does not cover the training labels")
    priors = (np.bincount(labels, minlength=k) + 1.0) / (labels.size + k)
    return np.tile(priors, (n, 1))
