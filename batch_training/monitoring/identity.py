"""The identity of a training's inputs: when the production model was trained on the same one,
training again would only repeat it.

It hashes three things: the window's data version (the fingerprint of every cleansed day read,
main and joined tables, with the feature declarations: ``features.dataset.window_data_version``),
the spec's fields that shape a model (target, task, split, model, evaluation and gate), and the
code version (the package's version). A new day of data, a changed hyperparameter or a new release
each gives a new identity; a re-ingest that wrote the same files does not.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import PackageNotFoundError, version

from batch_training.spec import TrainingSpec

_MODEL_FIELDS = {"target", "task", "positive_class", "split", "model", "evaluation", "gate"}


def code_version() -> str:
    try:
        return version("batch_training")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def inputs_identity(spec: TrainingSpec, data_version: str, code: str | None = None) -> str:
    fields = spec.model_dump(include=_MODEL_FIELDS, mode="json")
    text = json.dumps({"data_version": data_version, "spec": fields, "code": code or code_version()},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
