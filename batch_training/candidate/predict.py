"""Predictions of a checkpoint on a table, in the target's own units (regression) or as class
probabilities (classification)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import torch

from batch_training.features.preprocess import Preprocessor
from batch_training.training import Checkpoint, build_model, predict


class Predictor:
    def __init__(self, checkpoint: Checkpoint):
        self.checkpoint = checkpoint
        self.preprocessor = Preprocessor.from_dict(checkpoint.preprocessing)
        self.model = build_model(checkpoint)

    @property
    def task(self) -> str:
        return self.preprocessor.target.task

    @property
    def threshold(self) -> float | None:
        """Binary: a row is the positive class (``classes[1]``) when its probability is >= this."""
        return self.preprocessor.target.decision_threshold

    def __call__(self, table: pa.Table) -> np.ndarray:
        """[n] predictions for regression; [n, k] probabilities for classification (binary: k = 2)."""
        numeric, categorical = self.preprocessor.encode_features(table)
        raw = predict(self.model, torch.from_numpy(numeric), torch.from_numpy(categorical))
        if self.task == "regression":
            return self.preprocessor.decode_regression(raw, self.preprocessor.offsets(table))
        if self.task == "binary":
            p = 1.0 / (1.0 + np.exp(-raw[:, 0].astype(np.float64)))
            return np.column_stack([1.0 - p, p])
        logits = raw.astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)
