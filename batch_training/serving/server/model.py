"""The bundle's model: ONNX Runtime session + preprocessing, rows in, predictions out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from .preprocess import Preprocessing


class BundleError(RuntimeError):
    """The bundle folder is incomplete or its parts do not fit together."""


def read_metadata(bundle_dir: Path) -> dict:
    path = Path(bundle_dir) / "metadata.json"
    if not path.is_file():
        raise BundleError(f"{bundle_dir} is not a model bundle: metadata.json is missing")
    metadata = json.loads(path.read_text(encoding="utf-8"))
    missing = {"version", "task", "features"} - set(metadata)
    if missing:
        raise BundleError(f"{path} lacks {sorted(missing)}")
    return metadata


class Model:
    def __init__(self, bundle_dir: Path, threads: int = 1):
        bundle_dir = Path(bundle_dir)
        self.preprocessing = Preprocessing(json.loads((bundle_dir / "preprocessing.json").read_text(encoding="utf-8")))
        options = ort.SessionOptions()
        # One request is a few microseconds of maths: extra intra-op threads cost more than they save,
        # and concurrency comes from serving requests in parallel.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(bundle_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self._check()

    def _check(self) -> None:
        # The ONNX graph has exactly the inputs that carry data (see batch_training.serving.export).
        pre = self.preprocessing
        widths = {"numeric": pre.n_numeric_inputs, "categorical": len(pre.categorical)}
        expected = [name for name, width in widths.items() if width]
        if self.inputs != expected:
            raise BundleError(f"model.onnx takes inputs {self.inputs}, the preprocessing makes {expected}")
        for i in self.session.get_inputs():
            if i.shape[1] != widths[i.name]:
                raise BundleError(f"model.onnx input {i.name!r} has {i.shape[1]} columns, preprocessing makes {widths[i.name]}")
        width = self.session.get_outputs()[0].shape[1]
        if width != pre.n_outputs:
            raise BundleError(f"model.onnx has {width} outputs, the {pre.task} target needs {pre.n_outputs}")

    def predict(self, rows: list[dict[str, Any]]) -> list:
        if not rows:
            return []
        offset = self.preprocessing.offset
        columns = {offset: np.array([r.get(offset) for r in rows], dtype=np.float64)} if offset else None
        return self._run(*self.preprocessing.encode(rows), columns)

    def predict_columns(self, columns: dict[str, Any], n: int) -> list:
        """``predict`` of ``n`` rows given as checked columns (see ``columns.py``)."""
        if not n:
            return []
        return self._run(*self.preprocessing.encode_columns(columns, n), columns)

    def _run(self, numeric: np.ndarray, categorical: np.ndarray, columns: dict[str, Any] | None) -> list:
        feeds = {"numeric": numeric, "categorical": categorical}
        outputs = self.session.run(None, {name: feeds[name] for name in self.inputs})[0]
        return self.preprocessing.decode(outputs, columns)

    def warm_up(self) -> None:
        """One prediction on an all-missing row: loads kernels and proves the graph runs end to end."""
        out = self.predict([{}])
        value = out[0] if self.preprocessing.task == "regression" else sum(out[0]["probabilities"].values())
        if not np.isfinite(value):
            raise BundleError(f"the warm-up prediction is not finite: {out[0]}")
