"""Plots of a classifier's probabilities on the evaluation rows: calibration and precision–recall.

Drawn like every report plot (``report.py``): a ``Figure`` on the Agg canvas, never ``pyplot``.
"""

from __future__ import annotations

import numpy as np

from batch_training.evaluation.report import _empty, _figure, _png
from batch_training.evaluation.threshold import pr_curve


def calibration_png(y_true, proba, bins: int = 10) -> bytes:
    """Reliability curve: binary plots the positive-class probability against the positive rate;
    multiclass plots max-probability confidence against accuracy. Bars show the rows per bin."""
    y = np.asarray(y_true).ravel().astype(np.int64)
    p = np.asarray(proba, dtype=float)
    if p.ndim == 1:
        p = np.column_stack([1 - p, p])
    if p.shape[1] == 2:
        conf, hit, xlabel, ylabel = p[:, 1], (y == 1).astype(float), "predicted probability", "positive rate"
    else:
        conf, hit, xlabel, ylabel = p.max(axis=1), (p.argmax(axis=1) == y).astype(float), "confidence", "accuracy"
    ok = np.isfinite(conf)
    conf, hit = conf[ok], hit[ok]
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    counts = np.bincount(idx, minlength=bins)
    filled = counts > 0
    mean_conf = np.bincount(idx, weights=conf, minlength=bins)[filled] / counts[filled]
    mean_hit = np.bincount(idx, weights=hit, minlength=bins)[filled] / counts[filled]
    fig = _figure()
    ax = fig.add_subplot()
    if not filled.any():
        _empty(ax, "no finite probabilities")
        return _png(fig)
    share = ax.twinx()
    share.bar(edges[:-1], counts, width=1 / bins, align="edge", alpha=0.15, color="grey")
    share.set_ylabel("rows")
    ax.set_zorder(share.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.plot([0, 1], [0, 1], color="black", lw=1, ls="--", label="perfectly calibrated")
    ax.plot(mean_conf, mean_hit, marker="o", label="model")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel=xlabel, ylabel=ylabel, title="Calibration")
    ax.legend(loc="upper left")
    return _png(fig)


def _average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Step-wise area under the precision–recall curve: sum over thresholds of precision x recall gained."""
    curve = pr_curve(y, score)
    recall = curve.recall
    return float(np.sum(np.diff(np.r_[0.0, recall]) * curve.precision))


def precision_recall_png(y_true, proba, threshold: float | None = None, classes: list[str] | None = None) -> bytes:
    """Precision against recall as the threshold sweeps. Binary: the positive class's curve (column 1,
    ``classes[1]``), the operating point at ``threshold`` (labels ``p >= threshold``) marked, and the
    positive rate as the no-skill line. Multiclass: one one-vs-rest curve per class present.
    The legend gives each curve's average precision (AP)."""
    y = np.asarray(y_true).ravel().astype(np.int64)
    p = np.asarray(proba, dtype=float)
    if p.ndim == 1:
        p = np.column_stack([1 - p, p])
    names = list(classes) if classes else [str(c) for c in range(p.shape[1])]
    fig = _figure()
    ax = fig.add_subplot()
    ok = np.isfinite(p).all(axis=1)
    y, p = y[ok], p[ok]
    columns = [c for c in ([1] if p.shape[1] == 2 else range(p.shape[1])) if (y == c).any()]
    if not columns:
        _empty(ax, "no finite probabilities" if not ok.any() else "no positive row to draw a curve for")
        return _png(fig)
    for c in columns:
        curve = pr_curve(y == c, p[:, c])
        line, = ax.step(curve.recall, curve.precision, where="pre",
                        label=f"{names[c]} (AP {_average_precision(y == c, p[:, c]):.3f})")
        if p.shape[1] == 2:
            ax.axhline(float(np.mean(y == c)), color="grey", lw=1, ls="--", label="no skill (positive rate)")
            if threshold is not None:
                hit, tp = p[:, c] >= threshold, y == c
                precision = float(np.sum(hit & tp) / max(np.sum(hit), 1))
                recall = float(np.sum(hit & tp) / max(np.sum(tp), 1))
                ax.plot([recall], [precision], "o", color=line.get_color(), ms=8,
                        label=f"threshold {threshold:.3g}: P {precision:.2f}, R {recall:.2f}")
    title = f"Precision–recall of {names[1]!r}" if p.shape[1] == 2 else "Precision–recall, one vs rest"
    ax.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="recall", ylabel="precision", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=7)
    return _png(fig)
