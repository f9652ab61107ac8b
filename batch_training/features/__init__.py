"""Training data: windows of days, preprocessing fitted on training rows. No Dagster here."""

from batch_training.features.preprocess import Encoded, Preprocessor, TargetClassesError, fit_preprocessor
from batch_training.features.window import NotEnoughDays, Window, first_as_of_day, window_for

__all__ = ["Encoded", "NotEnoughDays", "Preprocessor", "TargetClassesError", "Window", "first_as_of_day",
           "fit_preprocessor", "window_for"]
