"""Evaluation core: metrics, baselines, the ship gate and the report. Plain Python, numpy and
matplotlib (Agg canvas); never imports Dagster or PyTorch."""

from batch_training.evaluation.baselines import constant_prediction, naive_rule_prediction
from batch_training.evaluation.gate import GateDecision, decide
from batch_training.evaluation.metrics import (
    MISSING_SLICE, Task, classification_metrics, metrics_for, primary_metric, rank_auc, regression_metrics,
    slice_key, slice_metrics,
)
from batch_training.evaluation.report import (
    calibration_png, error_by_slice_png, learning_curve_png, png_data_uri, predicted_vs_actual_png,
    render_markdown, write_report,
)

__all__ = [
    "MISSING_SLICE", "GateDecision", "Task", "calibration_png", "classification_metrics", "constant_prediction",
    "decide", "error_by_slice_png", "learning_curve_png", "metrics_for", "naive_rule_prediction",
    "png_data_uri", "predicted_vs_actual_png", "primary_metric", "rank_auc", "regression_metrics",
    "render_markdown", "slice_key", "slice_metrics", "write_report",
]
