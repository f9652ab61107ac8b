"""Serving benchmark: over HTTP on loopback against the running prediction server, single-row
latency p50/p99 (target p99 <= 5 ms) and 1000-row batch latency (target <= 20 ms); and the image
size with ONNX Runtime beside the same image with PyTorch instead (buildah, when installed).

    python -m bench.serving
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from batch_training.features import window_for
from batch_training.features.dataset import LoadedDataset, build_training_data, describe
from batch_training.images import make_builder
from batch_training.images.smoke import wait_ready
from batch_training.modeling import fit_candidate
from batch_training.serving import build_bundle
from batch_training.spec import load_specs
from batch_training.training import save_checkpoint
from bench.train import cleansed_days

BUILDAH = ["buildah", "--storage-driver", "vfs"]


def _post(url: str, body: bytes) -> float:
    import urllib.request

    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
    return time.perf_counter() - start


def _ms(samples: list[float]) -> dict:
    arr = np.array(samples) * 1000
    return {"p50_ms": round(float(np.percentile(arr, 50)), 3), "p99_ms": round(float(np.percentile(arr, 99)), 3), "n": len(arr)}


def _bundle(workdir: Path) -> tuple[Path, list[dict]]:
    spec = load_specs()[0]
    spec = spec.model_copy(update={"model": spec.model.model_copy(update={"epochs": 2})})
    days = cleansed_days(spec)
    window = window_for(dt.date(2014, 1, 1), spec.split, spec.source.first_day)
    built = build_training_data(spec, window, read_day=days.__getitem__, day_fingerprint=lambda d: d.isoformat())
    data = LoadedDataset(built.train, built.holdout, built.preprocessor, describe(built))
    outcome = fit_candidate(data, spec.model, lineage={"bench": True}, device="cpu")
    ckpt = workdir / "model.pt"
    save_checkpoint(ckpt, outcome.checkpoint)
    bundle = build_bundle(ckpt, spec, "bench", workdir / "bundle")
    rows = data.holdout.select(spec.features.numeric + spec.features.categorical).to_pylist()
    return bundle.path, rows


def latency(bundle: Path, rows: list[dict], singles: int = 1000, batches: int = 100) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = bundle.parent / "server.log"
    server = make_builder("none").start(bundle, None, port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_ready(base, 60, lambda: server.process.poll() is None):
            raise RuntimeError(log.read_text()[-2000:])
        for row in rows[:50]:  # warm-up
            _post(f"{base}/predict", json.dumps(row).encode())
        single = [_post(f"{base}/predict", json.dumps(rows[i % len(rows)]).encode()) for i in range(singles)]
        payload = json.dumps({"rows": rows[:1000]}).encode()
        batch = [_post(f"{base}/predict/batch", payload) for _ in range(batches)]
    finally:
        server.stop()
    return {"single": _ms(single), "batch_1000": _ms(batch)}


def _image_size(context: Path, tag: str, base: str) -> int:
    from batch_training.images.builders import BuildahBuilder

    info = BuildahBuilder().build(context, tag, base)
    subprocess.run([*BUILDAH, "rmi", tag], capture_output=True)
    return info.size_bytes


def image_sizes(bundle: Path, workdir: Path) -> dict:
    """The bundle's image, and the same image with torch (the CPU build in use) instead of onnxruntime."""
    from batch_training.images.base import DEFAULT_TAG, bootstrap_base

    if not shutil.which("buildah") or not shutil.which("debootstrap"):
        return {"skipped": "buildah/debootstrap not installed"}
    base = bootstrap_base(Path.home() / ".cache" / "batch_training" / "serving-base", DEFAULT_TAG)
    onnx = _image_size(bundle, "localhost/bench/serving-onnx:1", base)
    torch_bundle = workdir / "bundle-torch"
    shutil.copytree(bundle, torch_bundle)
    import torch

    reqs = [line for line in (torch_bundle / "requirements.txt").read_text().splitlines() if not line.startswith("onnxruntime")]
    (torch_bundle / "requirements.txt").write_text("\n".join(reqs + [f"torch=={torch.__version__}"]) + "\n")
    with_torch = _image_size(torch_bundle, "localhost/bench/serving-torch:1", base)
    return {"onnxruntime_image_mb": round(onnx / 2**20, 1), "torch_image_mb": round(with_torch / 2**20, 1),
            "torch_over_onnx": round(with_torch / onnx, 2)}


def main() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bundle, rows = _bundle(workdir)
        result = latency(bundle, rows)
        print(f"prediction server over HTTP on loopback: single row p50 {result['single']['p50_ms']} ms, "
              f"p99 {result['single']['p99_ms']} ms (target p99 <= 5 ms); 1000-row batch p50 "
              f"{result['batch_1000']['p50_ms']} ms, p99 {result['batch_1000']['p99_ms']} ms (target <= 20 ms)")
        result["images"] = image_sizes(bundle, workdir)
        print(f"image sizes: {result['images']}")
    return result


if __name__ == "__main__":
    main()
