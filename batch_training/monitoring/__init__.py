"""Monitoring core: the training window's reference profile, a day's drift against it, and the
live-versus-offline error rule. Plain Python, numpy and Arrow; never imports Dagster."""

from batch_training.monitoring.drift import EPSILON, DriftReport, FeatureDrift, drift, psi
from batch_training.monitoring.identity import code_version, inputs_identity
from batch_training.monitoring.live import LiveDay, LiveScore, as_scores, live_performance, score_day
from batch_training.monitoring.profile import (
    PROFILE_FILE,
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    build_profile,
    load_profile,
    save_profile,
)

__all__ = [
    "EPSILON", "PROFILE_FILE", "CategoricalProfile", "DriftReport", "FeatureDrift", "LiveDay", "NumericProfile",
    "LiveScore", "ReferenceProfile", "as_scores", "build_profile", "code_version", "drift", "inputs_identity",
    "live_performance", "load_profile", "psi", "save_profile", "score_day",
]
