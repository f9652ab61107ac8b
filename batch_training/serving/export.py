"""Export a checkpoint's model to ONNX and prove the file computes what PyTorch computes.

The legacy TorchScript exporter (``dynamo=False``) is used on purpose: for this small MLP it takes a
fraction of a second and needs no ``onnxscript`` (the dynamo exporter does, and is slower here). Its deprecation
warning is silenced here, once, so it does not drown every materialization's log.

Inputs with no columns: a graph input of shape ``[batch, 0]`` is awkward (the TorchScript exporter
drops inputs the graph never reads, and zero-width tensors trip some runtimes), so the graph has
exactly the inputs that carry data: ``numeric`` only when ``n_numeric > 0``, ``categorical`` only
when there are categorical features. A consumer feeds the inputs the session lists (the server
does; see ``server/model.py``), and ``inputs`` in the returned info names them.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import Tensor, nn

from batch_training.storage.files import write_bytes_atomic
from batch_training.training import Checkpoint, ModelConfig, build_model

OPSET = 17
TOLERANCE = 1e-4
INPUT_NAMES = ("numeric", "categorical")
OUTPUT_NAME = "output"


class ExportError(RuntimeError):
    """The exported graph does not reproduce the PyTorch model."""


class _Inputs(nn.Module):
    """Takes only the inputs that carry data, in the order of ``names``, and calls the model."""

    def __init__(self, model: nn.Module, names: tuple[str, ...]):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *xs: Tensor) -> Tensor:
        given = dict(zip(self.names, xs))
        # TabularNet never reads an input with no columns, so None is safe for it.
        return self.model(given.get("numeric"), given.get("categorical"))


def export_onnx(checkpoint: Checkpoint, path: Path, verify_rows: int = 256, seed: int = 0) -> dict:
    """Write ``checkpoint``'s model to ``path`` (atomically) and check it against PyTorch.

    Returns ``{"opset", "inputs": {name: [dims]}, "output": [dims], "max_abs_diff", "rows_checked"}``.
    Raises :class:`ExportError` (and writes nothing) when ONNX Runtime's outputs differ from
    PyTorch's by ``TOLERANCE`` or more on ``verify_rows`` random valid inputs.
    """
    path = Path(path)
    model = build_model(checkpoint)
    config: ModelConfig = checkpoint.model_config
    n_cat = len(config.cardinalities)
    names = tuple(n for n, width in zip(INPUT_NAMES, (config.n_numeric, n_cat)) if width)
    feeds = _random_inputs(config.n_numeric, config.cardinalities, verify_rows, seed)
    example = tuple(torch.from_numpy(feeds[n][:2]) for n in names)

    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notices
        torch.onnx.export(
            _Inputs(model, names).eval(), example, buffer, dynamo=False, opset_version=OPSET,
            input_names=list(names), output_names=[OUTPUT_NAME], do_constant_folding=True,
            dynamic_axes={**{n: {0: "batch"} for n in names}, OUTPUT_NAME: {0: "batch"}},
        )
    data = buffer.getvalue()
    onnx.checker.check_model(onnx.load_from_string(data))

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = np.asarray(session.run([OUTPUT_NAME], {n: feeds[n] for n in names})[0])
    with torch.no_grad():
        want = model(*(torch.from_numpy(feeds[n]) if n in names else None for n in INPUT_NAMES)).numpy()
    if got.shape != want.shape:
        raise ExportError(f"ONNX output shape {got.shape} differs from PyTorch's {want.shape}")
    diff = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
    if not diff < TOLERANCE:  # also catches NaN
        raise ExportError(f"ONNX Runtime differs from PyTorch by {diff} (tolerance {TOLERANCE})")

    write_bytes_atomic(path, data)
    return {
        "opset": OPSET,
        "inputs": {i.name: [d if isinstance(d, int) else str(d) for d in i.shape] for i in session.get_inputs()},
        "output": [d if isinstance(d, int) else str(d) for d in session.get_outputs()[0].shape],
        "max_abs_diff": diff,
        "rows_checked": verify_rows,
    }


def _random_inputs(n_numeric: int, cardinalities: tuple[int, ...], rows: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(rows, n_numeric)).astype(np.float32)
    categorical = np.column_stack([rng.integers(0, c, size=rows) for c in cardinalities]).astype(np.int64) \
        if cardinalities else np.zeros((rows, 0), np.int64)
    return {"numeric": numeric, "categorical": categorical}

