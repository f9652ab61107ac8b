"""Fit a candidate model on a training dataset and predict with a checkpoint: the glue between
features (preprocessing) and training (the PyTorch model and loop). No Dagster here.

The names below load on first use, so a module that only describes a job (``candidate.job``, which
the Dagster definitions import) does not import torch.
"""

from importlib import import_module

_FROM = {"FitOutcome": "fit", "fit_candidate": "fit", "Predictor": "predict"}
__all__ = sorted(_FROM)


def __getattr__(name: str):
    if name not in _FROM:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_FROM[name]}"), name)
