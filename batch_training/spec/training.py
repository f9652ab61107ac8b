"""Spec sections for training and evaluation: task, split, model, baselines, slices and the gate."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Task = Literal["regression", "binary", "multiclass"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitSpec(_Strict):
    """Time-based split for an as-of day D: the window is the ``window_days`` days before D; its last
    ``holdout_days`` are held out: the evaluation set, never seen in training nor in choosing the epoch."""

    window_days: int = Field(ge=2, le=3660)
    holdout_days: int = Field(ge=1)
    min_train_days: int = Field(default=7, ge=1, description="fewest training days an as-of day needs")

    @model_validator(mode="after")
    def _fits(self) -> "SplitSpec":
        if self.holdout_days + self.min_train_days > self.window_days:
            raise ValueError(f"holdout_days ({self.holdout_days}) + min_train_days ({self.min_train_days}) "
                             f"exceed window_days ({self.window_days})")
        return self


class ModelSpec(_Strict):
    """A tabular MLP: numeric inputs plus one embedding per categorical feature."""

    hidden: list[int] = Field(default_factory=lambda: [64, 32], min_length=1)
    embedding_dim: int = Field(default=8, ge=1, le=256, description="largest embedding size")
    dropout: float = Field(default=0.1, ge=0, lt=1)
    epochs: int = Field(default=6, ge=0, le=1000)
    batch_size: int = Field(default=1024, ge=1)
    learning_rate: float = Field(default=2e-3, gt=0, le=1)
    weight_decay: float = Field(default=1e-5, ge=0)
    patience: int = Field(default=2, ge=1, description="epochs without validation improvement before stopping")
    validation_fraction: float = Field(
        default=0.1, gt=0, lt=0.5,
        description="share of the training rows (a seeded random draw) kept out of the fit for early stopping "
                    "and choosing the best epoch; the holdout days only evaluate")
    seed: int = 0
    loss: Literal["l1", "l2"] = Field(default="l1", description="regression loss (classification uses cross-entropy)")
    residual_of: str | None = Field(
        default=None, description="regression: a numeric feature the model predicts the target's difference "
                                  "from (e.g. the departure delay for the arrival delay); added back to predict")
    ensemble: int = Field(default=1, ge=1, le=16,
                          description="models trained with seeds seed, seed+1, ...; their outputs averaged, "
                                      "exported as one ONNX graph")
    clip_inputs: float | None = Field(
        default=None, ge=0, lt=0.5,
        description="clip each numeric input to the training values' [q, 1-q] quantiles, so a value beyond what "
                    "training saw (a warm May after a cold winter) is not extrapolated")
    threads: int = Field(default=1, ge=1, le=64, description="torch threads while training (1 was 4-10x faster "
                                                            "than 2 on shared CPUs)")
    processes: int = Field(default=1, ge=1, le=64,
                           description="ensemble members trained at once on the CPU, each in a process of its own "
                                       "(the same weights as one at a time; each process uses `threads`)")

    @model_validator(mode="after")
    def _sizes(self) -> "ModelSpec":
        if any(h < 1 for h in self.hidden):
            raise ValueError("hidden sizes must be positive")
        return self


class NaiveRule(_Strict):
    """A simple rule the model must beat: a feature's value plus the training mean offset to the target
    (``feature_plus_offset``), or the feature as is (``feature``)."""

    kind: Literal["feature_plus_offset", "feature"] = "feature_plus_offset"
    feature: str


class EvaluationSpec(_Strict):
    slices: list[str] = Field(default_factory=list, description="categorical columns to report metrics by")
    naive: NaiveRule | None = None
    slice_min_rows: int = Field(default=200, ge=1, description="slices smaller than this are reported, not gated")


class GateSpec(_Strict):
    """When a candidate may ship. Improvements and tolerances are relative to the compared metric."""

    min_improvement_over_naive: float = Field(
        default=0.0, ge=0, lt=1,
        description="regression: below the naive rule by this share; classification: log loss below the "
                    "class-prior baseline's by this share")
    champion_tolerance: float = Field(default=0.01, ge=0, lt=1)
    slice_tolerance: float = Field(default=0.10, ge=0)
    min_auc_margin: float = Field(default=0.02, ge=0, lt=0.5,
                                  description="classification: AUC at least 0.5 plus this margin")
