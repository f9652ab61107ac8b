"""Evaluation metrics as plain numpy: regression (MAE, RMSE, R²) and classification (log loss, rank AUC,
accuracy, and the labels' quality: precision, recall and F1 of the positive class at the decision
threshold for binary, macro F1 at argmax for multiclass), overall and per slice. Lower is better for
both primary metrics (MAE, log loss).

``predicted_classes`` counts the distinct classes the labels take over the rows: 1 means the model
says the same thing for every row (the gate's degenerate rule).

A NaN prediction is not dropped: it makes the metric NaN, so the gate can refuse the model instead of
silently scoring it on the rows it happened to handle.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

Task = Literal["regression", "binary", "multiclass"]

MISSING_SLICE = "(missing)"
_EPS = 1e-15


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, R² and n. R² follows scikit-learn when the target is constant: 1.0 for a perfect
    prediction, else 0.0. No rows gives NaN metrics with n = 0."""
    y = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(y_pred, dtype=float).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.size} values but y_pred has {p.size}")
    if y.size == 0:
        return {"mae": math.nan, "rmse": math.nan, "r2": math.nan, "n": 0}
    err = p - y
    ss_res = float(np.sum(err**2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot > 0:
        r2 = 1.0 - ss_res / ss_tot
    else:
        r2 = 1.0 if ss_res == 0 else (math.nan if math.isnan(ss_res) else 0.0)
    return {"mae": float(np.mean(np.abs(err))), "rmse": math.sqrt(ss_res / y.size), "r2": float(r2),
            "n": int(y.size)}


def _as_proba(proba: np.ndarray) -> np.ndarray:
    p = np.asarray(proba, dtype=float)
    if p.ndim == 1:  # a binary positive-class probability vector
        p = np.column_stack([1.0 - p, p])
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"proba must be [n, k] with k >= 2, got shape {p.shape}")
    return p


def rank_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of ``score`` for the binary labels ``y_true`` (Mann-Whitney U over average ranks, so a
    tie counts one half). NaN when only one class is present."""
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(score, dtype=float).ravel()
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0 or np.isnan(s).any():
        return math.nan
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    first_rank = np.cumsum(counts) - counts + 1  # 1-based rank where each tie group starts
    avg_rank = first_rank + (counts - 1) / 2.0
    ranks = avg_rank[inverse]
    u = float(ranks[y].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def _ratio(num: float, den: float) -> float:
    # undefined (nothing labelled positive, no positive row) counts 0, as scikit-learn's default does
    return float(num / den) if den else 0.0


def _label_metrics(y: np.ndarray, labels: np.ndarray, threshold: float | None) -> dict[str, float]:
    """Binary (``threshold`` given): precision, recall, F1 of class 1. Multiclass: macro F1 over the
    classes that occur in ``y`` or in the labels (a class absent from both says nothing)."""
    if threshold is not None:
        tp, fp, fn = (int(np.sum((labels == 1) & (y == 1))), int(np.sum((labels == 1) & (y == 0))),
                      int(np.sum((labels == 0) & (y == 1))))
        out = {"precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn), "f1": _ratio(2 * tp, 2 * tp + fp + fn)}
    else:
        present = np.union1d(np.unique(y), np.unique(labels))
        f1 = [_ratio(2 * np.sum((labels == c) & (y == c)), np.sum(labels == c) + np.sum(y == c)) for c in present]
        out = {"macro_f1": float(np.mean(f1))}
    return out | {"predicted_classes": int(np.unique(labels).size)}


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, threshold: float | None = None) -> dict[str, float]:
    """Log loss (probabilities clipped to [1e-15, 1]), AUC and accuracy for integer labels in [0, k).
    Binary AUC scores column 1 (the positive class); multiclass AUC is the macro mean of one-vs-rest
    AUCs over the classes present in ``y_true`` (NaN when fewer than two classes are present).

    With ``threshold`` (binary, k = 2) a row's label is positive when ``proba[:, 1] >= threshold``, and
    accuracy, precision, recall and F1 of the positive class are of those labels; without it labels
    are the argmax and the macro F1 is reported. A NaN probability makes every label metric NaN."""
    y = np.asarray(y_true).ravel()
    p = _as_proba(proba)
    if threshold is not None and p.shape[1] != 2:
        raise ValueError(f"a decision threshold needs binary probabilities, got {p.shape[1]} columns")
    label_keys = ("precision", "recall", "f1") if threshold is not None else ("macro_f1",)
    if y.size != p.shape[0]:
        raise ValueError(f"y_true has {y.size} values but proba has {p.shape[0]} rows")
    if y.size == 0:
        return {"log_loss": math.nan, "auc": math.nan, "accuracy": math.nan,
                **{k: math.nan for k in label_keys + ("predicted_classes",)}, "n": 0}
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.isfinite(y.astype(float))) or np.any(y != np.round(y)):
            raise ValueError("classification labels must be integers")
        y = y.astype(np.int64)
    k = p.shape[1]
    if y.min() < 0 or y.max() >= k:
        raise ValueError(f"labels must lie in [0, {k}), got [{y.min()}, {y.max()}]")
    picked = np.clip(p[np.arange(y.size), y], _EPS, 1.0)
    log_loss = float(-np.mean(np.log(picked)))
    if np.isnan(p).any():
        accuracy, labelled = math.nan, {key: math.nan for key in label_keys + ("predicted_classes",)}
    else:
        labels = (p[:, 1] >= threshold).astype(np.int64) if threshold is not None else np.argmax(p, axis=1)
        accuracy, labelled = float(np.mean(labels == y)), _label_metrics(y, labels, threshold)
    if k == 2:
        auc = rank_auc(y == 1, p[:, 1])
    else:
        aucs = [rank_auc(y == c, p[:, c]) for c in np.unique(y)]
        aucs = [a for a in aucs if not math.isnan(a)]
        auc = float(np.mean(aucs)) if aucs and not np.isnan(p).any() else math.nan
    return {"log_loss": log_loss, "auc": auc, "accuracy": accuracy, **labelled, "n": int(y.size)}


def metrics_for(task: Task, y_true: np.ndarray, prediction: np.ndarray,
                threshold: float | None = None) -> dict[str, float]:
    """The task's metrics: ``prediction`` is [n] values for regression, [n, k] probabilities otherwise.
    Binary labels are read at ``threshold`` (default 0.5, the argmax rule)."""
    if task == "regression":
        return regression_metrics(y_true, prediction)
    if task == "binary":
        return classification_metrics(y_true, prediction, 0.5 if threshold is None else threshold)
    if task == "multiclass":
        return classification_metrics(y_true, prediction)
    raise ValueError(f"unknown task {task!r}")


def primary_metric(task: Task) -> str:
    """The metric the gate compares; lower is better for both."""
    if task == "regression":
        return "mae"
    if task in ("binary", "multiclass"):
        return "log_loss"
    raise ValueError(f"unknown task {task!r}")


def slice_key(value: object) -> str:
    """How a slice value is named in reports: None and float NaN are ``(missing)``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING_SLICE
    return str(value)


def slice_metrics(task: Task, y_true: np.ndarray, prediction: np.ndarray, slice_values: np.ndarray,
                  threshold: float | None = None) -> dict[str, dict[str, float]]:
    """Metrics per distinct slice value (keys as strings, None -> ``(missing)``), largest slice first;
    binary labels at ``threshold`` (the model's one threshold, not one per slice)."""
    y = np.asarray(y_true)
    pred = np.asarray(prediction)
    keys = np.array([slice_key(v) for v in np.asarray(slice_values, dtype=object).ravel()], dtype=object)
    if keys.size != y.shape[0] or pred.shape[0] != y.shape[0]:
        raise ValueError(f"slice_values has {keys.size} rows, y_true {y.shape[0]}, prediction {pred.shape[0]}")
    names, inverse, counts = np.unique(keys.astype(str), return_inverse=True, return_counts=True)
    order = sorted(range(len(names)), key=lambda i: (-counts[i], names[i]))
    return {str(names[i]): metrics_for(task, y[inverse == i], pred[inverse == i], threshold) for i in order}
