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
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa
import torch

from batch_training.candidate.members import member_started, start_workers, train_members
from batch_training.candidate.predict import Predictor
from batch_training.evaluation.threshold import ThresholdChoice, choose_threshold
from batch_training.features.dataset import LoadedDataset
from batch_training.features.preprocess import Preprocessor
from batch_training.spec.training import ModelSpec
from batch_training.training import (
    Batch,
    Callback,
    Checkpoint,
    ModelConfig,
    TabularNet,
    TrainConfig,
    TrainResult,
    resolve_device,
    seed_everything,
    train,
)
from batch_training.training.distributed import World

_LOSS = {"binary": "bce", "multiclass": "cross_entropy"}


@dataclass
class FitOutcome:
    checkpoint: Checkpoint
    result: TrainResult          # the first member's (the only one without an ensemble)
    rows_train: int
    rows_valid: int
    parameters: int
    results: list[TrainResult] = field(default_factory=list)  # every member's

    @property
    def epochs_run(self) -> int:
        return sum(len(r.history) for r in self.results)

    @property
    def seconds(self) -> float:
        return sum(h.seconds for r in self.results for h in r.history)


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


def _member_seed(model: ModelSpec, i: int) -> int:
    return model.seed + i


def fit_candidate(data: LoadedDataset, model: ModelSpec, lineage: dict,
                  callbacks: Sequence[Callback] = (), device: str | None = None, world: World = World()) -> FitOutcome:
    """Train the spec's model: one network, or ``model.ensemble`` of them with seeds seed, seed+1, ...
    (each with its own early stopping on the same validation rows), averaged in one module; on the
    CPU ``model.processes`` of them at a time (``members.py``: the same weights).

    In a world of several processes every rank calls this alike and trains its shard of the rows
    (``training.distributed``); each gets the same outcome, which rank 0 alone should write."""
    pre = data.preprocessor
    task = pre.target.task
    config = ModelConfig(n_numeric=len(pre.numeric_inputs), cardinalities=pre.cardinalities,
                         hidden=tuple(model.hidden), embedding_dim=model.embedding_dim,
                         dropout=model.dropout, n_outputs=pre.n_outputs, members=model.ensemble)
    parallel = model.processes > 1 and model.ensemble > 1 and not world.distributed and resolve_device(device) == "cpu"
    if parallel:
        start_workers(__name__)  # its imports run while the tensors are made
    # the holdout days are the evaluation set: early stopping looks at rows of the training days only
    fit_rows, valid_rows = validation_rows(data.train.num_rows, model.validation_fraction, model.seed)
    train_batch = to_batch(pre, data.train.take(pa.array(fit_rows)))
    valid_batch = to_batch(pre, data.train.take(pa.array(valid_rows)))
    threads = torch.get_num_threads()
    torch.set_num_threads(model.threads)
    try:
        if parallel:
            results = train_members(_train_member, config.member(), train_batch, valid_batch, model, task, callbacks,
                                    device)
        else:
            results = [_train_member(config.member(), train_batch, valid_batch, model, i, task, callbacks, device,
                                     world) for i in range(model.ensemble)]
    finally:
        torch.set_num_threads(threads)
    state = results[0].state_dict if model.ensemble == 1 else {
        f"members.{i}.{key}": value for i, r in enumerate(results) for key, value in r.state_dict.items()}
    history = [{**asdict(h), "member": i} for i, r in enumerate(results) for h in r.history]
    best = [r.best_epoch for r in results]
    checkpoint = Checkpoint(
        model_config=config, state_dict=state, preprocessing=pre.to_dict(), history=history, lineage=lineage,
        metadata={"task": task, "best_epoch": best[0] if model.ensemble == 1 else best,
                  "best_valid_loss": float(np.mean([r.best_valid_loss for r in results])),
                  "stopped_early": any(r.stopped_early for r in results), "device": results[0].device,
                  "model_spec": model.model_dump(), "members": model.ensemble},
    )
    if task == "binary":
        choice = decision_threshold(checkpoint, data.train.take(pa.array(valid_rows)))
        checkpoint.preprocessing["target"]["threshold"] = choice.threshold
        checkpoint.metadata["decision_threshold"] = choice.to_dict()
    parameters = sum(v.numel() for v in state.values())
    return FitOutcome(checkpoint, results[0], len(train_batch), len(valid_batch), parameters, results)


def _train_member(config: ModelConfig, train_batch: Batch, valid_batch: Batch, model: ModelSpec, i: int, task: str,
                  callbacks: Sequence[Callback], device: str | None, world: World = World()) -> TrainResult:
    seed = _member_seed(model, i)
    seed_everything(seed)
    net = TabularNet(config)
    member_started(callbacks if world.is_main else (), i, model.ensemble)
    return train(net, train_batch, valid_batch, TrainConfig(
        epochs=model.epochs, batch_size=model.batch_size, learning_rate=model.learning_rate,
        weight_decay=model.weight_decay, patience=model.patience, seed=seed,
        loss=_LOSS.get(task, model.loss), device=device), callbacks, world)


def decision_threshold(checkpoint: Checkpoint, valid: pa.Table) -> ThresholdChoice:
    """The binary threshold of the checkpoint's model on the validation rows ``valid``. Probabilities
    come from the same ``Predictor`` the evaluation uses (CPU), so the threshold is exact for it."""
    predictor = Predictor(checkpoint)
    labels = predictor.preprocessor.encode_target(valid.column(predictor.preprocessor.target.name))
    keep = labels >= 0
    return choose_threshold(labels[keep] == 1, predictor(valid)[keep, 1])
