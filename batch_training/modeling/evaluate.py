"""Evaluate a candidate on its holdout days beside the champion and simple baselines, and decide the gate."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from batch_training.evaluation import (
    GateDecision, calibration_png, constant_prediction, decide, error_by_slice_png, learning_curve_png,
    metrics_for, naive_rule_prediction, predicted_vs_actual_png, primary_metric, slice_metrics,
)
from batch_training.features.dataset import LoadedDataset
from batch_training.modeling.predict import Predictor
from batch_training.spec import TrainingSpec


def _column(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False)


def _labels(table: pa.Table, name: str) -> np.ndarray:
    return np.array([("(missing)" if v is None else str(v)) for v in table.column(name).to_pylist()], dtype=object)


def _aligned(proba: np.ndarray, classes: list[str], target_classes: list[str]) -> np.ndarray:
    """Re-order a champion's class probabilities onto the candidate's classes (absent classes: 0)."""
    out = np.zeros((proba.shape[0], len(target_classes)))
    for j, label in enumerate(classes):
        if label in target_classes:
            out[:, target_classes.index(label)] = proba[:, j]
    return out


def evaluate(spec: TrainingSpec, data: LoadedDataset, candidate: Predictor, champion: Predictor | None = None,
             champion_info: dict | None = None, override_reason: str | None = None) -> tuple[dict, dict[str, bytes], GateDecision]:
    task, pre = spec.task, candidate.preprocessor
    holdout, train = data.holdout, data.train
    metric = primary_metric(task)
    if task == "regression":
        y, y_train = _column(holdout, spec.target), _column(train, spec.target)
        keep = np.isfinite(y)
    else:
        y, y_train = pre.encode_target(holdout.column(spec.target)), pre.encode_target(train.column(spec.target))
        keep = y >= 0  # a class unseen in training cannot be scored
    holdout, y = holdout.filter(pa.array(keep)), y[keep]
    n_classes = None if task == "regression" else len(pre.target.classes)

    predictions = {"candidate": candidate(holdout)}
    predictions["constant"] = constant_prediction(task, y_train, len(y), n_classes)
    naive = spec.evaluation.naive
    if naive is not None:
        predictions["naive"] = naive_rule_prediction(naive, _column(train, naive.feature), y_train, _column(holdout, naive.feature))
    if champion is not None:
        pred = champion(holdout)
        predictions["champion"] = pred if task == "regression" else _aligned(pred, champion.preprocessor.target.classes, pre.target.classes)
    metrics = {name: metrics_for(task, y, p) for name, p in predictions.items()}
    slices = {name: {col: slice_metrics(task, y, p, _labels(holdout, col)) for col in spec.evaluation.slices}
              for name, p in predictions.items()}
    reference = "champion" if champion is not None else ("naive" if naive is not None else None)
    decision = decide(metric=metric, candidate=metrics["candidate"], naive=metrics.get("naive"),
                      champion=metrics.get("champion"), candidate_slices=slices["candidate"],
                      reference_slices=slices.get(reference) if reference else None, gate=spec.gate,
                      slice_min_rows=spec.evaluation.slice_min_rows, override_reason=override_reason)
    pngs = _pictures(task, y, predictions, slices, candidate.checkpoint.history, metric)
    report = {
        "spec": spec.name, "as_of": data.info["as_of"], "task": task, "metric": metric,
        "candidate": metrics["candidate"],
        "baselines": {"naive": metrics.get("naive"), "constant": metrics["constant"]},
        "champion": None if champion is None else {**metrics["champion"], **(champion_info or {})},
        "slices": slices["candidate"], "slice_reference": reference,
        "reference_slices": slices.get(reference) if reference else None,
        "gate": decision.to_dict(), "data": data.info,
        "training": {k: candidate.checkpoint.metadata.get(k) for k in ("best_epoch", "best_valid_loss", "stopped_early", "device")},
    }
    return report, pngs, decision


def _pictures(task, y, predictions, slices, history, metric) -> dict[str, bytes]:
    pngs = {"learning_curves.png": learning_curve_png(history)}
    if task == "regression":
        pngs["predicted_vs_actual.png"] = predicted_vs_actual_png(y, predictions["candidate"])
    else:
        pngs["calibration.png"] = calibration_png(y, predictions["candidate"])
    if slices["candidate"]:
        others = {k: v for k, v in slices.items() if k in ("naive", "champion")}
        pngs["error_by_slice.png"] = error_by_slice_png(slices["candidate"], metric, others or None)
    return pngs
