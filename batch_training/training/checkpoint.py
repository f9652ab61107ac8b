"""Self-describing checkpoints: one file with the weights and everything needed to use them.

The file is ``torch.save`` of a plain dict: ``state_dict`` (name -> tensor) plus JSON strings for the
model config, preprocessing, history, lineage and metadata. So ``torch.load(weights_only=True)`` reads
it and nothing beyond tensors, strings and ints is ever unpickled; no ``nn.Module`` or project class is
pickled, and renaming a class never breaks an old checkpoint. JSON is strict (no NaN/inf) so any
JSON reader can read those sections; key order is kept (it may carry meaning, e.g. feature order).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from batch_training.storage.files import sha256_file, write_bytes_atomic

from .network import ModelConfig, model_for

FORMAT = "batch_training.checkpoint/1"
_JSON_SECTIONS = ("model_config", "preprocessing", "history", "lineage", "metadata")


class CheckpointError(ValueError):
    """The file is not a readable checkpoint of this format, or its content does not match."""


@dataclass
class Checkpoint:
    model_config: ModelConfig
    state_dict: dict[str, Tensor]
    preprocessing: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)  # EpochStats.to_dict() per epoch
    lineage: dict = field(default_factory=dict)  # e.g. spec name and hash, as-of day, training days
    metadata: dict = field(default_factory=dict)  # e.g. best epoch, metrics, library versions


file_sha256 = sha256_file  # the checkpoint's digest, as lineage and the bundle record it


def save_checkpoint(path: Path, ckpt: Checkpoint) -> str:
    """Write ``ckpt`` to ``path`` atomically and return the file's sha256 (hex).

    The bytes go to a temporary file in the same folder, are fsynced, then ``os.replace``d over
    ``path``: readers see the old file or the new one, never half of one, and a failure leaves no
    temporary file behind.
    """
    path = Path(path)
    payload: dict[str, Any] = {
        "format": FORMAT,
        "torch_version": str(torch.__version__),  # TorchVersion is a str subclass weights_only refuses
        "state_dict": {k: v.detach().to("cpu", copy=True).contiguous() for k, v in ckpt.state_dict.items()},
    }
    for section in _JSON_SECTIONS:
        value = getattr(ckpt, section)
        payload[section] = _to_json(value.to_dict() if section == "model_config" else value, section)

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    write_bytes_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def load_checkpoint(path: Path, sha256: str | None = None) -> Checkpoint:
    """Read a checkpoint with ``weights_only=True`` onto the CPU. With ``sha256``, the file's hash is
    checked first and a mismatch raises :class:`CheckpointError`."""
    path = Path(path)
    if sha256 is not None and (actual := file_sha256(path)) != sha256:
        raise CheckpointError(f"{path}: sha256 is {actual}, expected {sha256}")
    try:
        payload = torch.load(path, weights_only=True, map_location="cpu")
    except OSError:
        raise
    except Exception as exc:  # pickle/zip errors: say which file and why, keep the cause
        raise CheckpointError(f"{path}: not a weights-only torch file ({type(exc).__name__}: {exc})") from exc
    found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
    if found != FORMAT:
        raise CheckpointError(f"{path}: checkpoint format is {found!r}, expected {FORMAT!r}")
    missing = {"state_dict", *_JSON_SECTIONS} - set(payload)
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {sorted(missing)}")
    sections = {s: json.loads(payload[s]) for s in _JSON_SECTIONS}
    return Checkpoint(model_config=ModelConfig.from_dict(sections.pop("model_config")),
                      state_dict=dict(payload["state_dict"]), **sections)


def build_model(ckpt: Checkpoint) -> nn.Module:
    """The checkpoint's model with its weights (strict: every key must match), in eval mode, on CPU:
    a TabularNet, or an EnsembleNet of them."""
    with torch.random.fork_rng(devices=[]):  # the throw-away initialisation must not move the caller's RNG
        model = model_for(ckpt.model_config)
    model.load_state_dict(ckpt.state_dict, strict=True)
    return model.eval()


def _to_json(value: Any, section: str) -> str:
    try:
        return json.dumps(value, allow_nan=False, default=_numpy_default)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint section {section!r} is not strict JSON: {exc}") from exc


def _numpy_default(value: Any) -> Any:
    # Preprocessing statistics often arrive as NumPy scalars or arrays; they round-trip as numbers.
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
