"""Preprocessing fitted on training rows only, applied the same way everywhere (trainer, evaluation,
prediction server), and stored as JSON.

- numeric features: standardized with the training mean and standard deviation; a missing value
  becomes 0 (the mean) and, when the feature had gaps in training, sets its own ``<name>__missing``
  input to 1.
- categorical features: a vocabulary of the training values, most frequent first; index 0 is the
  out-of-vocabulary bucket, which also takes missing values.
- target: regression targets are centred and scaled (median and mean absolute deviation). Class
  labels map to indices of the training classes: multiclass in sorted order; binary as
  ``[negative, positive]`` by the spec's ``positive_class``, so the model's single logit is the
  positive class's whatever the labels' spelling (sorted order made "positive" an accident of it).
  A binary target also carries its decision ``threshold`` once a model is fitted (see
  ``batch_training.candidate.fit``): the prediction server reads it from this document.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from batch_training.errors import DataError

FORMAT = "batch_training.preprocessing/1"


class TargetClassesError(DataError, ValueError):
    """The training rows cannot fit the target's classes: one class only, or no row of the positive class.
    A data failure (the window's rows), not a bug: retraining on the same days fails the same way."""


@dataclass
class NumericFeature:
    name: str
    mean: float
    std: float
    missing_indicator: bool
    constant: bool = False  # one value in training (std stored as 1 so the input is 0, not a division by 0)
    low: float | None = None   # values are clipped to [low, high] (training quantiles) before scaling,
    high: float | None = None  # so a value beyond what training saw is not extrapolated


@dataclass
class CategoricalFeature:
    name: str
    vocabulary: list[str]

    @property
    def cardinality(self) -> int:
        return len(self.vocabulary) + 1  # + the out-of-vocabulary / missing bucket at index 0


@dataclass
class Target:
    name: str
    task: str
    classes: list[str] | None = None   # classification: index -> label (binary: [negative, positive])
    shift: float = 0.0                 # regression: y_model = (y - shift) / scale
    scale: float = 1.0
    positive_class: str | None = None  # binary: classes[1]
    offset: str | None = None          # regression: the model predicts target - offset (a numeric feature)
    offset_fill: float = 0.0           # ... with this (the training median) where the offset is missing
    threshold: float | None = None     # binary: label positive when p(positive) >= threshold (set by the fit)

    @property
    def decision_threshold(self) -> float | None:
        """The binary threshold; 0.5 for a document written before thresholds were chosen."""
        if self.task != "binary":
            return None
        return 0.5 if self.threshold is None else float(self.threshold)


@dataclass
class Encoded:
    numeric: np.ndarray                # float32 [n, n_numeric_inputs]
    categorical: np.ndarray            # int64 [n, n_categorical]
    target: np.ndarray | None          # float32 [n] (regression) / int64 [n] (classes); None when absent


@dataclass
class Preprocessor:
    numeric: list[NumericFeature]
    categorical: list[CategoricalFeature]
    target: Target
    format: str = field(default=FORMAT)

    @property
    def numeric_inputs(self) -> list[str]:
        names = [f.name for f in self.numeric]
        return names + [f"{f.name}__missing" for f in self.numeric if f.missing_indicator]

    @property
    def cardinalities(self) -> tuple[int, ...]:
        return tuple(f.cardinality for f in self.categorical)

    @property
    def n_outputs(self) -> int:
        if self.target.task == "multiclass":
            return len(self.target.classes or [])
        return 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Preprocessor":
        if data.get("format") != FORMAT:
            raise ValueError(f"not a batch_training preprocessing document (format {data.get('format')!r})")
        return cls(numeric=[NumericFeature(**f) for f in data["numeric"]],
                   categorical=[CategoricalFeature(**f) for f in data["categorical"]],
                   target=Target(**data["target"]), format=FORMAT)

    # -- applying -------------------------------------------------------------------------------
    def encode_features(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        n = table.num_rows
        columns, flags = [], []
        for f in self.numeric:
            values = _floats(table.column(f.name))
            missing = ~np.isfinite(values)
            if f.low is not None:
                values = np.clip(values, f.low, f.high)
            columns.append(np.where(missing, 0.0, (values - f.mean) / f.std))
            if f.missing_indicator:
                flags.append(missing.astype(np.float64))
        numeric = np.column_stack(columns + flags).astype(np.float32) if columns else np.zeros((n, 0), np.float32)
        cats = [_indices(table.column(f.name), f.vocabulary) for f in self.categorical]
        categorical = np.column_stack(cats).astype(np.int64) if cats else np.zeros((n, 0), np.int64)
        return numeric, categorical

    def offsets(self, table: pa.Table) -> np.ndarray | float:
        """Regression with an offset: its values per row (the training median where missing); else 0."""
        if self.target.offset is None:
            return 0.0
        values = _floats(table.column(self.target.offset))
        return np.where(np.isfinite(values), values, self.target.offset_fill)

    def encode_target(self, column: pa.ChunkedArray, offsets: np.ndarray | float = 0.0) -> np.ndarray:
        t = self.target
        if t.task == "regression":
            return ((_floats(column) - offsets - t.shift) / t.scale).astype(np.float32)
        index = _indices(column, t.classes or []) - 1  # -1: a class unseen in training
        return index.astype(np.int64)

    def encode(self, table: pa.Table) -> Encoded:
        numeric, categorical = self.encode_features(table)
        target = self.encode_target(table.column(self.target.name), self.offsets(table)) \
            if self.target.name in table.column_names else None
        return Encoded(numeric, categorical, target)

    def decode_regression(self, outputs: np.ndarray, offsets: np.ndarray | float = 0.0) -> np.ndarray:
        return outputs.reshape(-1).astype(np.float64) * self.target.scale + self.target.shift + offsets


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)


def _indices(column: pa.ChunkedArray, vocabulary: list[str]) -> np.ndarray:
    """1-based vocabulary positions; 0 for missing or unseen values."""
    text = column.cast(pa.string())
    found = pc.index_in(text, value_set=pa.array(vocabulary, pa.string()))
    return (pc.fill_null(found, -1).to_numpy(zero_copy_only=False) + 1).astype(np.int64)


def fit_preprocessor(train: pa.Table, numeric: list[str], categorical: list[str], target: str, task: str,
                     positive_class: str | None = None, offset: str | None = None,
                     clip: float | None = None) -> Preprocessor:
    """Fit on training rows only (rows whose target is missing must already be dropped). A binary
    task needs ``positive_class``: the class whose probability the model's logit gives. A regression
    with ``offset`` learns ``target - offset``; ``clip`` is the share of training values below and
    above which each numeric input is clipped (None: no clipping)."""
    num = []
    for name in numeric:
        values = _floats(train.column(name))
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            raise ValueError(f"numeric feature {name!r} has no values in the training rows")
        low, high = (None, None) if clip is None else (float(np.quantile(finite, clip)),
                                                        float(np.quantile(finite, 1 - clip)))
        kept = finite if clip is None else np.clip(finite, low, high)
        std = float(kept.std())
        usable = std > 0 and math.isfinite(std)
        num.append(NumericFeature(name, float(kept.mean()), std if usable else 1.0, bool(finite.size < values.size),
                                  constant=not usable, low=low, high=high))
    cat = [CategoricalFeature(name, _vocabulary(train.column(name))) for name in categorical]
    offsets = None if offset is None else _floats(train.column(offset))
    return Preprocessor(num, cat, _fit_target(train.column(target), target, task, positive_class, offset, offsets))


def _vocabulary(column: pa.ChunkedArray) -> list[str]:
    counts = pc.value_counts(pc.drop_null(column.cast(pa.string()))).to_pylist()
    return [c["values"] for c in sorted(counts, key=lambda c: (-c["counts"], c["values"]))]


def _fit_target(column: pa.ChunkedArray, name: str, task: str, positive_class: str | None = None,
                offset: str | None = None, offsets: np.ndarray | None = None) -> Target:
    if task == "regression":
        y = _floats(column)
        fill = 0.0
        if offsets is not None:  # the model learns what the offset does not already say
            known = offsets[np.isfinite(offsets)]
            fill = float(np.median(known)) if known.size else 0.0
            y = y - np.where(np.isfinite(offsets), offsets, fill)
        y = y[np.isfinite(y)]
        median = float(np.median(y))
        scale = float(np.mean(np.abs(y - median))) or 1.0
        return Target(name, task, shift=median, scale=scale, offset=offset, offset_fill=fill)
    classes = sorted(pc.unique(pc.drop_null(column.cast(pa.string()))).to_pylist())
    if task == "binary" and len(classes) != 2:
        raise TargetClassesError(f"a binary target needs 2 classes in training, {name!r} has {classes}")
    if len(classes) < 2:
        raise TargetClassesError(f"target {name!r} has fewer than 2 classes in training: {classes}")
    if task != "binary":
        return Target(name, task, classes=classes)
    if positive_class is None:
        raise ValueError(f"binary target {name!r} needs a positive_class (classes are not ordered by spelling)")
    positive = str(positive_class)  # the labels' text form, as _indices compares them
    if positive not in classes:
        raise TargetClassesError(f"the positive class {positive!r} of target {name!r} is absent from the "
                                 f"training rows, which hold {classes}")
    negative = next(c for c in classes if c != positive)
    return Target(name, task, classes=[negative, positive], positive_class=positive)
