"""Fit a candidate model on a training dataset and predict with a checkpoint: the glue between
features (preprocessing) and training (the PyTorch model and loop). No Dagster here."""

from batch_training.candidate.fit import FitOutcome, fit_candidate
from batch_training.candidate.predict import Predictor

__all__ = ["FitOutcome", "Predictor", "fit_candidate"]
