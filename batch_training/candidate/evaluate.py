"""Evaluate a candidate on its holdout days beside the champion and simple baselines, and decide the gate.

Binary labels are read at each model's own threshold: the candidate's and the champion's stored ones
(0.5 for a champion from before thresholds, or one whose positive class differs), and for the
class-prior baseline the threshold the same rule picks on its training-row predictions, which is its
one probability: it labels every row positive (the best F1 a constant can have).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from batch_training.candidate.predict import Predictor
from batch_training.evaluation import (
    GateDecision,
    calibration_png,
    constant_prediction,
    decide,
    error_by_slice_png,
    learning_curve_png,
    metrics_for,
    naive_rule_prediction,
    precision_recall_png,
    predicted_vs_actual_png,
    primary_metric,
    slice_metrics,
)
from batch_training.evaluation.threshold import choose_threshold
from batch_training.features.dataset import LoadedDataset
from batch_training.features.preprocess import Preprocessor
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
    thresholds = {"candidate": candidate.threshold}
    if task == "binary":
        prior = constant_prediction(task, y_train, len(y_train), n_classes)[:, 1]
        thresholds["constant"] = choose_threshold(y_train == 1, prior).threshold
    naive = spec.evaluation.naive
    if naive is not None:
        predictions["naive"] = naive_rule_prediction(naive, _column(train, naive.feature), y_train, _column(holdout, naive.feature))
    if champion is not None:
        pred = champion(holdout)
        predictions["champion"] = pred if task == "regression" else _aligned(pred, champion.preprocessor.target.classes, pre.target.classes)
        if task == "binary":
            thresholds["champion"] = _champion_threshold(champion, pre)
    metrics = {name: metrics_for(task, y, p, thresholds.get(name)) for name, p in predictions.items()}
    slices = {name: {col: slice_metrics(task, y, p, _labels(holdout, col), thresholds.get(name))
                     for col in spec.evaluation.slices} for name, p in predictions.items()}
    reference = "champion" if champion is not None else ("naive" if naive is not None else None)
    decision = decide(task=task, metric=metric, candidate=metrics["candidate"], naive=metrics.get("naive"),
                      constant=metrics["constant"], champion=metrics.get("champion"),
                      candidate_slices=slices["candidate"],
                      reference_slices=slices.get(reference) if reference else None, gate=spec.gate,
                      slice_min_rows=spec.evaluation.slice_min_rows, override_reason=override_reason)
    pngs = _pictures(task, y, predictions, slices, candidate, metric)
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
    if task == "binary":
        report["decision_threshold"] = {
            "positive_class": pre.target.classes[1], **{f"{k}_threshold": v for k, v in thresholds.items()},
            "chosen_on": candidate.checkpoint.metadata.get("decision_threshold")}
    return report, pngs, decision


def _champion_threshold(champion: Predictor, pre: Preprocessor) -> float:
    """The champion's own threshold when it predicts the same positive class, else the argmax rule."""
    same = champion.preprocessor.target.classes[1:] == pre.target.classes[1:]
    return champion.threshold if same and champion.threshold is not None else 0.5


def _pictures(task, y, predictions, slices, candidate: Predictor, metric) -> dict[str, bytes]:
    pngs = {"learning_curves.png": learning_curve_png(candidate.checkpoint.history)}
    if task == "regression":
        pngs["predicted_vs_actual.png"] = predicted_vs_actual_png(y, predictions["candidate"])
    else:
        pngs["calibration.png"] = calibration_png(y, predictions["candidate"])
        pngs["precision_recall.png"] = precision_recall_png(y, predictions["candidate"], candidate.threshold,
                                                            candidate.preprocessor.target.classes)
    if slices["candidate"]:
        others = {k: v for k, v in slices.items() if k in ("naive", "champion")}
        pngs["error_by_slice.png"] = error_by_slice_png(slices["candidate"], metric, others or None)
    return pngs
