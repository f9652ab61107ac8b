"""The checks of a spec that trains a model: its task, target, features, split and baselines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from batch_training.spec.tables import NUMERIC_TYPES, FieldError

if TYPE_CHECKING:
    from batch_training.spec.pipeline import TrainingSpec


def check_training(spec: "TrainingSpec") -> None:
    if not spec.features or not (spec.features.numeric or spec.features.categorical):
        raise FieldError(("features",), f"task {spec.task!r} needs at least one feature")
    if not spec.target:
        raise FieldError(("target",), f"task {spec.task!r} needs a target column")
    if spec.split is None:
        raise FieldError(("split",), f"task {spec.task!r} needs a split (window_days, holdout_days)")
    target = spec.columns[spec.target]
    if spec.task == "regression" and target.type not in NUMERIC_TYPES:
        raise FieldError(("target",), f"a regression target must be numeric, {spec.target!r} is {target.type}")
    if spec.task != "regression" and target.type not in ("string", "integer"):
        raise FieldError(("target",), f"a classification target must be string or integer, not {target.type}")
    if spec.task == "binary" and target.allowed is not None and len(target.allowed) != 2:
        raise FieldError(("target",), f"a binary target needs exactly 2 allowed values, {spec.target!r} has {len(target.allowed)}")
    if spec.task == "binary" and spec.positive_class is None:
        raise FieldError(("positive_class",), "a binary task needs positive_class: the class the model predicts "
                                              "the probability of (classes are not ordered by their spelling)")
    if spec.positive_class is not None:
        if spec.task != "binary":
            raise FieldError(("positive_class",), f"positive_class applies to a binary task, not {spec.task!r}")
        if target.allowed is not None and spec.positive_class not in target.allowed:
            raise FieldError(("positive_class",), f"positive_class {spec.positive_class!r} is not one of "
                                                  f"the target's allowed values {target.allowed}")
    for i, col in enumerate(spec.features.numeric):
        if spec.kind_of(col) not in ("number", "clock"):
            raise FieldError(("features", "numeric", i), f"numeric feature {col!r} is {spec.kind_of(col)}")
    for i, col in enumerate(spec.features.categorical):
        if spec.kind_of(col) in ("date", "timestamp"):
            raise FieldError(("features", "categorical", i), f"categorical feature {col!r} is a {spec.kind_of(col)}; "
                                                             "derive a part of it (hour, day_of_week, month)")
    for i, col in enumerate(spec.evaluation.slices):
        if col not in spec.columns and col not in spec.derived:
            raise FieldError(("evaluation", "slices", i), f"slice column {col!r} is not declared under columns")
    naive = spec.evaluation.naive
    if naive is not None:
        if naive.feature not in spec.columns or spec.columns[naive.feature].type not in NUMERIC_TYPES:
            raise FieldError(("evaluation", "naive", "feature"), f"naive rule feature {naive.feature!r} must be a numeric column")
        if spec.task != "regression":
            raise FieldError(("evaluation", "naive"), "a naive rule applies to regression only")
    residual = spec.model.residual_of
    if residual is not None:
        if spec.task != "regression":
            raise FieldError(("model", "residual_of"), "residual_of applies to a regression")
        if residual not in spec.features.numeric:
            raise FieldError(("model", "residual_of"), f"residual_of {residual!r} must be a numeric feature "
                                                       "(the prediction server adds it back, so a request carries it)")
    if spec.target in spec.feature_names:
        raise FieldError(("target",), f"target {spec.target!r} is also a feature")
