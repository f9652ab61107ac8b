"""NumPy twin of ``batch_training.features.preprocess.Preprocessor`` for request rows.

It reads the same ``preprocessing.json`` and must give the model bit-for-bit the inputs the offline
path gives it (a test compares the two on rows with gaps and unseen categories):

- numeric: ``(x - mean) / std`` in float64, then float32; a missing value becomes 0 and, for a
  feature that had gaps in training, sets its ``<name>__missing`` input (all flags after all values);
- categorical: 1-based position in the vocabulary, 0 for a missing or unseen value. The offline path
  compares Arrow's text form of the value; ``str()`` of a Python ``str`` or ``int`` is the same text.
- target: regression ``y * scale + shift``; binary sigmoid of the single logit, the probability of
  ``classes[1]`` (the spec's positive class), labelled positive when it is >= the document's
  ``target.threshold`` (chosen on validation rows when the model was fitted; 0.5 in a document from
  before thresholds); multiclass softmax, labelled by argmax.
"""

from __future__ import annotations

from itertools import repeat
from typing import Any

import numpy as np

FORMAT = "batch_training.preprocessing/1"


class Preprocessing:
    def __init__(self, document: dict):
        if document.get("format") != FORMAT:
            raise ValueError(f"not a batch_training preprocessing document (format {document.get('format')!r})")
        self.numeric = [(f["name"], float(f["mean"]), float(f["std"]), bool(f["missing_indicator"]))
                        for f in document["numeric"]]
        # inputs clipped to the training quantiles before scaling, as the offline path does
        self.bounds = {f["name"]: (float(f["low"]), float(f["high"])) for f in document["numeric"]
                       if f.get("low") is not None}
        self.categorical = [(f["name"], {str(v): i + 1 for i, v in enumerate(f["vocabulary"])})
                            for f in document["categorical"]]
        target = document["target"]
        self.task: str = target["task"]
        self.target: str = target["name"]
        self.classes: list[str] = list(target.get("classes") or [])
        self.shift, self.scale = float(target.get("shift", 0.0)), float(target.get("scale", 1.0))
        # regression: the model predicts target - offset (a numeric input), added back here
        self.offset, self.offset_fill = target.get("offset"), float(target.get("offset_fill", 0.0))
        self.threshold = 0.5 if target.get("threshold") is None else float(target["threshold"])

    @property
    def n_numeric_inputs(self) -> int:
        return len(self.numeric) + sum(flag for *_, flag in self.numeric)

    @property
    def cardinalities(self) -> list[int]:
        return [len(vocab) + 1 for _, vocab in self.categorical]

    @property
    def n_outputs(self) -> int:
        return len(self.classes) if self.task == "multiclass" else 1

    def encode(self, rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Rows (feature name -> value or None) to ``numeric`` float32 [n, k] and ``categorical`` int64 [n, c]."""
        numeric = {name: np.array([row.get(name) for row in rows], dtype=np.float64) for name, *_ in self.numeric}
        categorical = {name: [row.get(name) for row in rows] for name, _ in self.categorical}
        return self.encode_columns({**numeric, **categorical}, len(rows))

    def encode_columns(self, columns: dict[str, Any], n: int) -> tuple[np.ndarray, np.ndarray]:
        """``encode`` of rows given as columns: a float64 array per numeric feature (NaN where
        missing) and a list of values (None where missing) per categorical one, as ``columns.py``
        checks them. Both entry points share these lines, so they cannot drift apart."""
        scaled, flags = [], []
        for name, mean, std, flag in self.numeric:
            values = columns[name]
            missing = ~np.isfinite(values)
            if name in self.bounds:
                values = np.clip(values, *self.bounds[name])
            scaled.append(np.where(missing, 0.0, (values - mean) / std))
            if flag:
                flags.append(missing.astype(np.float64))
        numeric = np.column_stack(scaled + flags).astype(np.float32) if scaled else np.zeros((n, 0), np.float32)
        cats = [np.array(_positions(columns[name], vocab), np.int64) for name, vocab in self.categorical]
        categorical = np.column_stack(cats).astype(np.int64) if cats else np.zeros((n, 0), np.int64)
        return numeric, categorical

    def offsets(self, columns: dict[str, Any] | None, n: int) -> np.ndarray | float:
        if self.offset is None:
            return 0.0
        values = np.asarray(columns[self.offset], dtype=np.float64) if columns else np.full(n, np.nan)
        return np.where(np.isfinite(values), values, self.offset_fill)

    def decode(self, outputs: np.ndarray, columns: dict[str, Any] | None = None) -> list:
        """Model outputs [n, n_outputs] to predictions: floats (regression, plus the offset column
        of ``columns`` when the model predicts a difference) or ``{"label", "probabilities":
        {label: p}}`` (classification; a binary label at the threshold)."""
        raw = np.asarray(outputs, dtype=np.float64)
        if self.task == "regression":
            return (raw.reshape(-1) * self.scale + self.shift + self.offsets(columns, len(raw))).tolist()
        if self.task == "binary":
            p = 1.0 / (1.0 + np.exp(-raw[:, 0]))
            proba = np.column_stack([1.0 - p, p])
            best = (p >= self.threshold).astype(np.int64)  # the stored threshold, not argmax (0.5)
        else:
            raw = raw - raw.max(axis=1, keepdims=True)
            e = np.exp(raw)
            proba = e / e.sum(axis=1, keepdims=True)
            best = proba.argmax(axis=1)
        return [{"label": self.classes[b], "probabilities": dict(zip(self.classes, p))}
                for b, p in zip(best.tolist(), proba.tolist())]


def _positions(values: list, vocab: dict[str, int]) -> list[int]:
    """1-based vocabulary positions of the values' text; 0 for a missing or unseen value."""
    if set(map(type, values)) <= {str, type(None)}:  # the common case: no str() per value
        return list(map(vocab.get, values, repeat(0, len(values))))  # None is no key: vocab keys are strings
    return [0 if v is None else vocab.get(str(v), 0) for v in values]
