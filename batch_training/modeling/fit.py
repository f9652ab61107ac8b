"""Train a candidate from a training dataset folder's contents.

A binary candidate also gets its decision threshold here, chosen on the validation rows (the seeded
share of the training days that early stopping looks at) by the rule of
``batch_training.evaluation.threshold``. The holdout days never reach this function's choices: they
only evaluate. The threshold is stored twice in the checkpoint, written once: in the preprocessing
document's ``target`` (what the evaluation and the prediction server read; the bundle copies that
document as is) and in ``metadata["decision_threshold"]`` with the F1 and rows it was chosen on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import torch

from batch_training.evaluation.threshold import ThresholdChoice, choose_threshold
from batch_training.features.dataset import LoadedDataset
from batch_training.features.preprocess import Preprocessor
from batch_training.modeling.predict import Predictor
from batch_training.spec.training import ModelSpec
from batch_training.training import (
    Batch, Callback, Checkpoint, ModelConfig, TabularNet, TrainConfig, TrainResult, seed_everything, train,
)

_LOSS = {"binary": "bce", "multiclass": "cross_entropy"}


@dataclass
class FitOutcome:
    checkpoint: Checkpoint
    result: TrainResult
    rows_train: int
    rows_valid: int
    parameters: int


def to_batch(pre: Preprocessor, table) -> Batch:
    """Tensors of a table; rows whose class was unseen in training are left out (they cannot be scored)."""
    enc = pre.encode(table)
    keep = np.ones(len(enc.target), dtype=bool) if pre.target.task == "regression" else enc.target >= 0
    target = torch.from_numpy(enc.target[keep])
    if pre.target.task == "binary":
        target = target.float()
    return Batch(torch.from_numpy(enc.numeric[keep]), torch.from_numpy(enc.categorical[keep]), target)


def validation_rows(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (fit, validation) of ``n`` training rows: a seeded random ``fraction`` (at least one
    row, never all) for validation, both in their original order."""
    if n < 2:
        raise ValueError(f"{n} training row(s): at least 2 are needed to keep one out for validation")
    size = min(n - 1, max(1, round(n * fraction)))
    valid = np.zeros(n, dtype=bool)
    valid[np.random.default_rng(seed).choice(n, size=size, replace=False)] = True
    return np.flatnonzero(~valid), np.flatnonzero(valid)


def fit_candidate(data: LoadedDataset, model: ModelSpec, lineage: dict,
                  callbacks: Sequence[Callback] = (), device: str | None = None) -> FitOutcome:
    pre = data.preprocessor
    task = pre.target.task
    config = ModelConfig(n_numeric=len(pre.numeric_inputs), cardinalities=pre.cardinalities,
                         hidden=tuple(model.hidden), embedding_dim=model.embedding_dim,
                         dropout=model.dropout, n_outputs=pre.n_outputs)
    seed_everything(model.seed)
    net = TabularNet(config)
    # the holdout days are the evaluation set: early stopping looks at rows of the training days only
    fit_rows, valid_rows = validation_rows(data.train.num_rows, model.validation_fraction, model.seed)
    train_batch = to_batch(pre, data.train.take(pa.array(fit_rows)))
    valid_batch = to_batch(pre, data.train.take(pa.array(valid_rows)))
    result = train(net, train_batch, valid_batch, TrainConfig(
        epochs=model.epochs, batch_size=model.batch_size, learning_rate=model.learning_rate,
        weight_decay=model.weight_decay, patience=model.patience, seed=model.seed,
        loss=_LOSS.get(task, model.loss), device=device), callbacks)
    history = [asdict(h) for h in result.history]
    checkpoint = Checkpoint(
        model_config=config, state_dict=result.state_dict, preprocessing=pre.to_dict(), history=history,
        lineage=lineage,
        metadata={"task": task, "best_epoch": result.best_epoch, "best_valid_loss": result.best_valid_loss,
                  "stopped_early": result.stopped_early, "device": result.device, "model_spec": model.model_dump()},
    )
    if task == "binary":
        choice = decision_threshold(checkpoint, data.train.take(pa.array(valid_rows)))
        checkpoint.preprocessing["target"]["threshold"] = choice.threshold
        checkpoint.metadata["decision_threshold"] = choice.to_dict()
    parameters = sum(p.numel() for p in net.parameters())
    return FitOutcome(checkpoint, result, len(train_batch), len(valid_batch), parameters)


def decision_threshold(checkpoint: Checkpoint, valid: pa.Table) -> ThresholdChoice:
    """The binary threshold of the checkpoint's model on the validation rows ``valid``. Probabilities
    come from the same ``Predictor`` the evaluation uses (CPU), so the threshold is exact for it."""
    predictor = Predictor(checkpoint)
    labels = predictor.preprocessor.encode_target(valid.column(predictor.preprocessor.target.name))
    keep = labels >= 0
    return choose_threshold(labels[keep] == 1, predictor(valid)[keep, 1])
