"""Monitoring core: the training window's reference profile, a day's drift against it, and the
live-versus-offline error rule. Plain Python, numpy and Arrow; never imports Dagster."""

from batch_training.monitoring.drift import EPSILON, DriftReport, FeatureDrift, drift, psi
from batch_training.monitoring.live import LiveDay, live_performance
from batch_training.monitoring.profile import (
    PROFILE_FILE, CategoricalProfile, NumericProfile, ReferenceProfile, build_profile, load_profile, save_profile,
)

__all__ = [
    "EPSILON", "PROFILE_FILE", "CategoricalProfile", "DriftReport", "FeatureDrift", "LiveDay", "NumericProfile",
    "ReferenceProfile", "build_profile", "drift", "live_performance", "load_profile", "psi", "save_profile",
]
