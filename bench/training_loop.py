"""Training-loop throughput: ``batch_training.training.train`` (tensors on the device once, one
``randperm`` gather per epoch, contiguous slices, fused AdamW) against the textbook loop over
``DataLoader(TensorDataset(...), batch_size, shuffle=True)``, same model, same data, same epochs, both
with a validation pass per epoch. Synthetic data shaped like the flagship spec's features:
4 numeric + 3 categorical (cardinalities 16/3/105), hidden [64, 32], batch 1024, CPU, 2 threads.

    python -m bench.training_loop
"""

from __future__ import annotations

import json
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from batch_training.training import Batch, ModelConfig, TabularNet, TrainConfig, evaluate_loss, seed_everything, train
from bench.measure import timed

CARDINALITIES = (16, 3, 105)
HIDDEN = (64, 32)
BATCH_SIZE = 1024


def synthetic(rows: int, seed: int) -> Batch:
    """A learnable regression target: a nonlinear mix of the numeric inputs plus per-category offsets."""
    g = torch.Generator().manual_seed(seed)
    numeric = torch.randn(rows, 4, generator=g)
    categorical = torch.stack([torch.randint(0, c, (rows,), generator=g) for c in CARDINALITIES], dim=1)
    offsets = [torch.randn(c, generator=g) * 5 for c in CARDINALITIES]
    target = (10 * numeric[:, 0] + 3 * numeric[:, 1].abs() - 2 * numeric[:, 2] * numeric[:, 3]
              + sum(o[categorical[:, i]] for i, o in enumerate(offsets)) + torch.randn(rows, generator=g))
    return Batch(numeric, categorical, target)


def _model(seed: int) -> TabularNet:
    seed_everything(seed)
    return TabularNet(ModelConfig(n_numeric=4, cardinalities=CARDINALITIES, hidden=HIDDEN, embedding_dim=8,
                                  dropout=0.1, n_outputs=1))


def _ours(data: Batch, valid: Batch, config: TrainConfig) -> dict:
    model = _model(config.seed)
    start = time.perf_counter()
    result = train(model, data, valid, config)
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 3), "samples_per_s": round(len(data) * config.epochs / seconds),
            "epoch_train_samples_per_s": [round(s.samples_per_s) for s in result.history],
            "valid_l1": round(result.history[-1].valid_loss, 4)}


def _dataloader(data: Batch, valid: Batch, config: TrainConfig) -> dict:
    """The loop most tutorials write: a DataLoader that indexes and collates row by row."""
    model = _model(config.seed)
    torch.manual_seed(config.seed)
    loader = DataLoader(TensorDataset(data.numeric, data.categorical, data.target),
                        batch_size=config.batch_size, shuffle=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    start = time.perf_counter()
    for _ in range(config.epochs):
        model.train()
        for numeric, categorical, target in loader:
            loss = torch.nn.functional.l1_loss(model(numeric, categorical)[:, 0], target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        valid_l1 = evaluate_loss(model, valid, "l1")
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 3), "samples_per_s": round(len(data) * config.epochs / seconds),
            "valid_l1": round(valid_l1, 4)}


def measure(rows: int = 300_000, epochs: int = 6, threads: int = 2) -> dict:
    """Wall time and training samples/s of both loops (validation passes included in both).

    On a machine whose cores are busy with other work, ``threads=2`` can be several times slower than
    ``threads=1`` (each parallel region waits for a descheduled thread): compare runs on a quiet machine.
    """
    # The first optimizer a process builds imports torch._dynamo (seconds); pay it before either timing.
    first_optimizer_s, _ = timed(lambda: torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))]))
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        data, valid = synthetic(rows, seed=1), synthetic(max(rows // 10, 1), seed=2)
        # patience = epochs: never stop early, so both loops run the same number of epochs.
        config = TrainConfig(epochs=epochs, batch_size=BATCH_SIZE, learning_rate=2e-3, weight_decay=1e-5,
                             patience=max(epochs, 1), seed=0, loss="l1", device="cpu")
        ours, naive = _ours(data, valid, config), _dataloader(data, valid, config)
    finally:
        torch.set_num_threads(previous_threads)
    return {"rows": rows, "valid_rows": len(valid), "epochs": epochs, "batch_size": BATCH_SIZE, "threads": threads,
            "device": "cpu", "torch": torch.__version__, "train": ours, "dataloader": naive,
            "speedup": round(naive["seconds"] / ours["seconds"], 2), "first_optimizer_s": round(first_optimizer_s, 3)}


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
