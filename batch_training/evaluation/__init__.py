"""Evaluation core: metrics, baselines, the ship gate and the report. Plain Python, numpy and
matplotlib (Agg canvas); never imports Dagster or PyTorch."""

from batch_training.evaluation.baselines import constant_prediction, naive_rule_prediction
from batch_training.evaluation.classifier_plots import calibration_png, precision_recall_png
from batch_training.evaluation.gate import GateDecision, decide
from batch_training.evaluation.metrics import (
    MISSING_SLICE,
    Task,
    classification_metrics,
    metrics_for,
    primary_metric,
    rank_auc,
    regression_metrics,
    slice_key,
    slice_metrics,
)
from batch_training.evaluation.report import (
    error_by_slice_png,
    learning_curve_png,
    png_data_uri,
    predicted_vs_actual_png,
    render_markdown,
    write_report,
)
from batch_training.evaluation.threshold import ThresholdChoice, choose_threshold, pr_curve

__all__ = [
    "MISSING_SLICE", "GateDecision", "Task", "ThresholdChoice", "calibration_png", "choose_threshold",
    "classification_metrics", "constant_prediction", "decide", "error_by_slice_png", "learning_curve_png",
    "metrics_for", "naive_rule_prediction", "png_data_uri", "pr_curve", "precision_recall_png",
    "predicted_vs_actual_png", "primary_metric", "rank_auc", "regression_metrics", "render_markdown",
    "slice_key", "slice_metrics", "write_report",
]
