"""A training loop that reads top to bottom (after karpathy/nanoGPT ``train.py`` and minGPT's trainer).

It knows nothing about Dagster: progress leaves through :class:`Callback` objects, one
:class:`EpochStats` per epoch. It takes any ``nn.Module`` whose ``forward(numeric, categorical)``
returns ``[n, n_outputs]``.

Speed: the tensors go to the device once; each epoch shuffles them with one ``randperm`` gather and
then walks contiguous slices (views, no per-batch indexing and no DataLoader, whose per-row
``__getitem__`` + collate costs more than this model's forward and backward).

Determinism on CPU: call :func:`seed_everything` (seed) *before* building the model, so the initial
weights depend on the seed alone. :func:`train` then draws its batch order from a local
``torch.Generator`` seeded with ``config.seed`` and runs inside ``torch.random.fork_rng`` seeded with
``config.seed`` (dropout's masks come from the global RNG), so a run depends only on
(initial weights, data, config) and leaves the caller's global RNG state as it was.
``torch.set_num_threads`` is left to the caller; the same thread count gives bit-identical results.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from batch_training.training.distributed import World

Loss = Literal["l1", "l2", "bce", "cross_entropy"]
LOSSES: tuple[str, ...] = ("l1", "l2", "bce", "cross_entropy")


class TrainingDiverged(RuntimeError):
    """The training or validation loss became NaN or infinite: the weights are unusable."""


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global RNGs. Call it before building the model."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(device: str | None) -> str:
    """``None`` picks ``"cuda"`` when a GPU is visible, ``"cpu"`` otherwise."""
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@dataclass
class TrainConfig:
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    patience: int  # epochs without a validation improvement before stopping
    seed: int
    loss: Loss
    device: str | None = None  # None: "cuda" if torch.cuda.is_available() else "cpu"

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or self.patience < 1:
            raise ValueError(f"need epochs >= 0, batch_size >= 1, patience >= 1: {self}")
        if not self.learning_rate > 0 or self.weight_decay < 0:
            raise ValueError(f"need learning_rate > 0 and weight_decay >= 0: {self}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")

    @classmethod
    def from_spec(cls, model_spec: Any, *, loss: Loss | None = None, device: str | None = None) -> "TrainConfig":
        """From a spec's model section; ``loss`` overrides its (regression) loss, e.g. for classifiers."""
        return cls(epochs=model_spec.epochs, batch_size=model_spec.batch_size,
                   learning_rate=model_spec.learning_rate, weight_decay=model_spec.weight_decay,
                   patience=model_spec.patience, seed=model_spec.seed, loss=loss or model_spec.loss, device=device)


@dataclass
class Batch:
    """The tensors of one split: numeric float32 [n, k], categorical int64 [n, c], target [n]
    (float32 for l1/l2/bce, int64 class indices for cross_entropy)."""

    numeric: Tensor
    categorical: Tensor
    target: Tensor

    def __post_init__(self) -> None:
        n = len(self.target)
        if self.numeric.dim() != 2 or self.categorical.dim() != 2 or self.target.dim() != 1:
            raise ValueError(f"need numeric [n, k], categorical [n, c], target [n]; got shapes "
                             f"{tuple(self.numeric.shape)}, {tuple(self.categorical.shape)}, {tuple(self.target.shape)}")
        if len(self.numeric) != n or len(self.categorical) != n:
            raise ValueError(f"row counts differ: numeric {len(self.numeric)}, categorical "
                             f"{len(self.categorical)}, target {n}")
        if self.numeric.dtype != torch.float32 or self.categorical.dtype != torch.int64:
            raise ValueError(f"need numeric float32 and categorical int64, got {self.numeric.dtype}, "
                             f"{self.categorical.dtype}")

    def __len__(self) -> int:
        return len(self.target)

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(*(t.to(device).contiguous() for t in (self.numeric, self.categorical, self.target)))

    def take(self, index: Tensor) -> "Batch":
        """The rows at ``index``, as new contiguous tensors."""
        return Batch(self.numeric[index], self.categorical[index], self.target[index])

    def slice(self, start: int, stop: int) -> "Batch":
        """Rows ``start:stop`` as views (no copy)."""
        return Batch(self.numeric[start:stop], self.categorical[start:stop], self.target[start:stop])


@dataclass
class EpochStats:
    epoch: int  # 1-based
    train_loss: float  # mean over the epoch's training samples, in train mode (dropout on)
    valid_loss: float  # mean over the validation samples, eval mode
    seconds: float  # the whole epoch: training and validation
    samples_per_s: float  # training samples / seconds of the training phase
    improved: bool  # the validation loss is the best so far

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Callback(Protocol):
    def on_epoch_end(self, stats: EpochStats) -> None: ...


@dataclass
class TrainResult:
    state_dict: dict[str, Tensor]  # the best epoch's weights (by validation loss), on CPU
    history: list[EpochStats]
    best_epoch: int | None  # None when epochs == 0
    best_valid_loss: float  # with epochs == 0: the validation loss of the initial weights
    stopped_early: bool
    device: str
    initial_valid_loss: float = math.nan  # before any training: the yardstick for "did it learn"
    seconds: float = 0.0  # wall time of the whole call


LossFn = Callable[[Tensor, Tensor, str], Tensor]


def loss_function(name: Loss) -> LossFn:
    """``fn(output [n, n_outputs], target [n], reduction) -> loss``."""
    if name == "l1":
        return lambda out, y, reduction="mean": F.l1_loss(out[:, 0], y, reduction=reduction)
    if name == "l2":
        return lambda out, y, reduction="mean": F.mse_loss(out[:, 0], y, reduction=reduction)
    if name == "bce":
        return lambda out, y, reduction="mean": F.binary_cross_entropy_with_logits(out[:, 0], y, reduction=reduction)
    if name == "cross_entropy":
        return lambda out, y, reduction="mean": F.cross_entropy(out, y, reduction=reduction)
    raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")


@torch.no_grad()
def evaluate_loss(model: nn.Module, data: Batch, loss: Loss, batch_size: int = 8192) -> float:
    """Mean loss over ``data`` in eval mode (the validation loss :func:`train` reports)."""
    was_training = model.training
    model.eval()
    fn = loss_function(loss)
    device = _model_device(model)
    total = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(0, len(data), batch_size):
        b = data.slice(start, start + batch_size).to(device)
        total += fn(model(b.numeric, b.categorical), b.target, "none").double().sum()  # float64 sum: exact enough
    model.train(was_training)
    return total.item() / max(len(data), 1)


def train(model: nn.Module, train: Batch, valid: Batch, config: TrainConfig,
          callbacks: Sequence[Callback] = (), world: World = World()) -> TrainResult:
    """Train ``model`` with AdamW, stop early on the validation loss, keep the best epoch's weights.

    On return ``model`` holds the best weights, in eval mode, on the training device; the result's
    ``state_dict`` is a CPU copy of them. Exceptions from callbacks propagate.

    In a world of several processes (``distributed.py``; its group started) every rank calls this
    with the same data and config: the model trains as ``DistributedDataParallel`` on each rank's
    shard of the epoch's permutation, ``config.batch_size`` rows per step in all; rank 0 validates
    and its validation loss, broadcast, decides the best epoch and early stopping on every rank;
    callbacks run on rank 0 only. One process is exactly the loop without any of it.
    """
    _check_data(train, valid, config)
    if config.epochs > 0 and len(train) < world.size:
        raise ValueError(f"{len(train)} training rows cannot be shared by {world.size} processes")
    device = torch.device(world.device(resolve_device(config.device)))
    started = time.perf_counter()
    fork_devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        # dropout masks (each rank its own); fork_rng restores the caller's RNG afterwards
        torch.manual_seed(config.seed + world.rank)
        model.to(device)
        train_d, valid_d = train.to(device), valid.to(device)
        loss_fn = loss_function(config.loss)
        eval_batch = max(config.batch_size, 8192)
        _check_output(model, valid_d, config.loss)
        step_model = world.parallel(model, device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                      weight_decay=config.weight_decay, **_fast_adamw(device))
        order = torch.Generator(device="cpu").manual_seed(config.seed)  # batch order, independent of dropout
        batch_size = world.batch_size(config.batch_size)

        initial_valid_loss = _validate(model, valid_d, config.loss, eval_batch, world, device)
        if not math.isfinite(initial_valid_loss):
            raise ValueError(f"the initial validation loss is {initial_valid_loss}: check the valid split for NaN/inf")
        best_loss, best_epoch, best_state = initial_valid_loss, None, _cpu_copy(model)
        history: list[EpochStats] = []
        stale = 0
        n = len(train_d)
        for epoch in range(1, config.epochs + 1):
            t0 = time.perf_counter()
            step_model.train()
            mine = world.shard(torch.randperm(n, generator=order))
            rows = len(mine)
            shuffled = train_d.take(mine.to(device))
            total = torch.zeros((), dtype=torch.float64, device=device)
            for start in range(0, rows, batch_size):
                stop = min(start + batch_size, rows)
                x_num, x_cat = shuffled.numeric[start:stop], shuffled.categorical[start:stop]
                loss = loss_fn(step_model(x_num, x_cat), shuffled.target[start:stop], "mean")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.detach().double() * (stop - start)  # stays on the device: no sync per batch
            if world.distributed:
                summed = world.sum(torch.stack([total, torch.tensor(float(rows), dtype=torch.float64, device=device)]))
                total, rows = summed[0], int(summed[1].item())
            train_loss = total.item() / rows
            t_train = time.perf_counter() - t0

            valid_loss = _validate(model, valid_d, config.loss, eval_batch, world, device)
            if not (math.isfinite(train_loss) and math.isfinite(valid_loss)):
                raise TrainingDiverged(f"epoch {epoch}: train loss {train_loss}, valid loss {valid_loss}; "
                                       f"lower the learning rate or check the inputs for NaN/inf")
            improved = best_epoch is None or valid_loss < best_loss
            if improved:
                best_loss, best_epoch, best_state, stale = valid_loss, epoch, _cpu_copy(model), 0
            else:
                stale += 1
            stats = EpochStats(epoch=epoch, train_loss=train_loss, valid_loss=valid_loss,
                               seconds=time.perf_counter() - t0, samples_per_s=rows / max(t_train, 1e-9),
                               improved=improved)
            history.append(stats)
            for callback in callbacks if world.is_main else ():
                callback.on_epoch_end(stats)
            if stale >= config.patience:
                break

        model.load_state_dict(best_state)
        model.eval()
    return TrainResult(state_dict=best_state, history=history, best_epoch=best_epoch, best_valid_loss=best_loss,
                       stopped_early=len(history) < config.epochs, device=str(device),
                       initial_valid_loss=initial_valid_loss, seconds=time.perf_counter() - started)


def _validate(model: nn.Module, valid: Batch, loss: Loss, batch_size: int, world: World, device: torch.device) -> float:
    """The validation loss, computed on rank 0 and the same on every rank (broadcast)."""
    value = evaluate_loss(model, valid, loss, batch_size) if world.is_main else math.nan
    if not world.distributed:
        return value
    return float(world.from_main(torch.tensor([value], dtype=torch.float64, device=device)).item())


@torch.inference_mode()
def predict(model: nn.Module, numeric: Tensor | np.ndarray, categorical: Tensor | np.ndarray,
            batch_size: int = 8192) -> np.ndarray:
    """Raw outputs (values or logits) ``[n, n_outputs]`` as float32, in eval mode, without gradients."""
    was_training = model.training
    model.eval()
    device = _model_device(model)
    numeric = torch.as_tensor(numeric, dtype=torch.float32)
    categorical = torch.as_tensor(categorical, dtype=torch.int64)
    # One pass even for n == 0, so an empty input still yields [0, n_outputs].
    outputs = [model(numeric[s:s + batch_size].to(device), categorical[s:s + batch_size].to(device)).float().cpu()
               for s in range(0, max(len(numeric), 1), batch_size)]
    model.train(was_training)
    return torch.cat(outputs).numpy()


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _cpu_copy(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _fast_adamw(device: torch.device) -> dict[str, bool]:
    # The fused kernel updates all parameters in one call: on CPU it takes the optimizer step from
    # about a third of a small model's step time to a few percent. Same maths as the loop version.
    return {"fused": True} if device.type in ("cpu", "cuda") else {}


def _check_data(train: Batch, valid: Batch, config: TrainConfig) -> None:
    if len(valid) == 0:
        raise ValueError("the validation split is empty: early stopping and the best epoch need it")
    if config.epochs > 0 and len(train) == 0:
        raise ValueError("the training split is empty")
    want = torch.int64 if config.loss == "cross_entropy" else torch.float32
    for name, split in (("train", train), ("valid", valid)):
        if split.target.dtype != want:
            raise ValueError(f"{name} target must be {want} for loss {config.loss!r}, got {split.target.dtype}")
    if train.numeric.shape[1] != valid.numeric.shape[1] or train.categorical.shape[1] != valid.categorical.shape[1]:
        raise ValueError("train and valid have different feature counts")


@torch.no_grad()
def _check_output(model: nn.Module, valid: Batch, loss: Loss) -> None:
    was_training = model.training
    model.eval()
    out = model(valid.numeric[:2], valid.categorical[:2])
    model.train(was_training)
    if out.dim() != 2 or (loss != "cross_entropy" and out.shape[1] != 1):
        raise ValueError(f"loss {loss!r} needs model outputs [n, 1], got {tuple(out.shape)}")
