"""Whether a scheduled or sensor-triggered training should run: not when the production model was
trained on the same inputs (nothing changed: it would only repeat it), not before the spec's
retraining interval is over, unless the data drifted past the ERROR threshold and the spec asks to
retrain early then. A run an operator forces always trains."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from batch_training.registry.versions import ModelVersion
from batch_training.spec import TrainingSpec

IDENTITY_KEY = "inputs_identity"  # where the registry's data_window keeps a model's inputs identity


@dataclass(frozen=True)
class TrainDecision:
    train: bool
    reason: str


def decide_training(spec: TrainingSpec, as_of: dt.date, identity: str | None, production: ModelVersion | None,
                    drift_error_days: Sequence[str] = (), force: bool = False, scheduled: bool = True) -> TrainDecision:
    """``identity``: the inputs identity a training as of ``as_of`` would see (None when it cannot be
    known, e.g. a day is missing: then training runs and fails or succeeds on its own). A training an
    operator asks for (``scheduled=False``) skips only a repeat, never for the retraining interval."""
    if force:
        return TrainDecision(True, "forced")
    if production is None:
        return TrainDecision(True, "no model in production")
    if identity is not None and production.data_window.get(IDENTITY_KEY) == identity:
        return TrainDecision(False, f"inputs unchanged since version {production.version} (as of {production.as_of}, "
                                    f"identity {identity}): training again would repeat it")
    age = (as_of - production.as_of).days
    if not scheduled:
        return TrainDecision(True, "asked for, with inputs other than the production model's")
    if age <= 0:
        return TrainDecision(True, f"inputs changed for as-of day {as_of}, not after the production model's "
                                   f"({production.as_of}): a day it learnt from was ingested again")
    every = spec.schedule.train_every_days
    if age >= every:
        return TrainDecision(True, f"due: the production model is {age} day(s) old (retrained every {every})")
    if drift_error_days and spec.monitoring.retrain_on_drift_error:
        return TrainDecision(True, f"early: data drift ERROR on {', '.join(drift_error_days)}")
    return TrainDecision(False, f"not due: production {production.version} is {age} day(s) old, retrained every {every} "
                                "day(s)" + (" (drift ERROR, but monitoring.retrain_on_drift_error is off)" if drift_error_days else ""))
