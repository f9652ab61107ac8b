"""Model, training loop and checkpoints: plain Python and PyTorch, never Dagster (ARCHITECTURE.md, layers)."""

from .checkpoint import FORMAT, Checkpoint, CheckpointError, build_model, file_sha256, load_checkpoint, save_checkpoint
from .distributed import World
from .network import EnsembleNet, ModelConfig, TabularNet, embedding_size, model_for
from .trainer import (
    LOSSES,
    Batch,
    Callback,
    EpochStats,
    TrainConfig,
    TrainingDiverged,
    TrainResult,
    evaluate_loss,
    loss_function,
    predict,
    resolve_device,
    seed_everything,
    train,
)

__all__ = [
    "FORMAT", "LOSSES", "Batch", "Callback", "Checkpoint", "CheckpointError", "EnsembleNet", "EpochStats", "ModelConfig",
    "TabularNet", "TrainConfig", "TrainResult", "TrainingDiverged", "build_model", "embedding_size",
    "evaluate_loss", "file_sha256", "load_checkpoint", "loss_function", "model_for", "predict", "resolve_device",
    "save_checkpoint", "seed_everything", "train", "World",
]
