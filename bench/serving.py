"""Serving benchmark: over HTTP on loopback against the running prediction server, single-row
latency p50/p99 (target p99 <= 5 ms) and 1000-row batch latency (target p99 <= 20 ms), each the
median of several rounds; how long ``/health`` takes while a hostile batch (1.3 million ``{}`` rows,
3.7 MiB) is in flight, and the size of the reply it gets; and the image size with ONNX Runtime
beside the same image with PyTorch instead (buildah, when installed).

    python -m bench.serving
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from batch_training.candidate import fit_candidate
from batch_training.features import window_for
from batch_training.features.columns import request_rows
from batch_training.features.dataset import JoinedDays, LoadedDataset, build_training_data, describe
from batch_training.images import make_builder
from batch_training.images.smoke import wait_ready
from batch_training.serving import build_bundle
from batch_training.spec import load_specs
from batch_training.training import save_checkpoint
from bench.train import cleansed_days

BUILDAH = ["buildah", "--storage-driver", "vfs"]


def _post(url: str, body: bytes, timeout: float = 30) -> float:
    return _send(url, body, timeout)[0]


def _send(url: str, body: bytes, timeout: float = 30) -> tuple[float, int, int]:
    """(seconds, HTTP status, reply bytes) of one POST; an error status is a reply like any other."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, size = response.status, len(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            status, size = exc.code, len(exc.read())
    return time.perf_counter() - start, status, size


def _ms(samples: list[float]) -> dict:
    arr = np.array(samples) * 1000
    return {"p50_ms": round(float(np.percentile(arr, 50)), 3), "p99_ms": round(float(np.percentile(arr, 99)), 3), "n": len(arr)}


def _median(rounds: list[dict], kind: str) -> dict:
    """p50 and p99 of ``kind``: the median over the rounds of each round's figure."""
    return {"p50_ms": round(float(np.median([r[kind]["p50_ms"] for r in rounds])), 3),
            "p99_ms": round(float(np.median([r[kind]["p99_ms"] for r in rounds])), 3),
            "n": rounds[0][kind]["n"], "rounds": len(rounds)}


def _bundle(workdir: Path) -> tuple[Path, list[dict]]:
    spec = load_specs()[0]
    spec = spec.model_copy(update={"model": spec.model.model_copy(update={"epochs": 2})})
    days, joined = cleansed_days(spec)
    window = window_for(dt.date(2014, 1, 1), spec.split, spec.source.first_day)
    empty = {name: next(iter(d.values())).schema.empty_table() for name, d in joined.items()}
    built = build_training_data(spec, window, read_day=days.__getitem__, day_fingerprint=lambda d: d.isoformat(),
                                joined_days=JoinedDays(lambda j, d: joined[j].get(d, empty[j]), lambda j, d: d.isoformat()))
    data = LoadedDataset(built.train, built.holdout, built.preprocessor, describe(built))
    outcome = fit_candidate(data, spec.model, lineage={"bench": True}, device="cpu")
    ckpt = workdir / "model.pt"
    save_checkpoint(ckpt, outcome.checkpoint)
    bundle = build_bundle(ckpt, spec, "bench", workdir / "bundle")
    rows = request_rows(spec, data.holdout)
    return bundle.path, rows


def latency(bundle: Path, rows: list[dict], singles: int = 1000, batches: int = 100, rounds: int = 5) -> dict:
    """Per round, ``singles`` single-row and ``batches`` 1000-row requests (one connection each, as a
    plain client makes them); the figures are the medians over the rounds, which each round lists."""
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
        payload = json.dumps({"rows": rows[:1000]}).encode()
        measured = []
        for _ in range(rounds):
            single = [_post(f"{base}/predict", json.dumps(rows[i % len(rows)]).encode()) for i in range(singles)]
            batch = [_post(f"{base}/predict/batch", payload) for _ in range(batches)]
            measured.append({"single": _ms(single), "batch_1000": _ms(batch)})
        result = {"single": _median(measured, "single"), "batch_1000": _median(measured, "batch_1000"),
                  "rounds": measured, "hostile_batch": hostile(base)}
    finally:
        server.stop()
    return result


def hostile(base: str, rows: int = 1_300_000) -> dict:
    """``/health`` polled while ``rows`` empty rows are posted as one batch: how long the slowest poll
    took, and the hostile request's status, reply size and time."""
    body = b'{"rows": [' + b",".join([b"{}"] * rows) + b"]}"
    outcome: dict = {}
    sender = threading.Thread(target=lambda: outcome.update(reply=_send(f"{base}/predict/batch", body, timeout=120)))
    sender.start()
    polls = []
    while sender.is_alive():
        start = time.perf_counter()
        with urllib.request.urlopen(f"{base}/health", timeout=30) as response:
            response.read()
        polls.append(time.perf_counter() - start)
    sender.join()
    seconds, status, size = outcome["reply"]
    return {"body_bytes": len(body), "status": status, "reply_bytes": size, "seconds": round(seconds, 3),
            "health_polls": len(polls), "health_max_ms": round(max(polls, default=0.0) * 1000, 3)}


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
        print(f"prediction server over HTTP on loopback, medians of {result['single']['rounds']} rounds: single row "
              f"p50 {result['single']['p50_ms']} ms, p99 {result['single']['p99_ms']} ms (target p99 <= 5 ms); "
              f"1000-row batch p50 {result['batch_1000']['p50_ms']} ms, p99 {result['batch_1000']['p99_ms']} ms "
              f"(target p99 <= 20 ms)")
        h = result["hostile_batch"]
        print(f"hostile batch ({h['body_bytes']} bytes of empty rows): HTTP {h['status']} in {h['seconds']} s, "
              f"{h['reply_bytes']} bytes of reply; /health answered {h['health_polls']} polls meanwhile, "
              f"slowest {h['health_max_ms']} ms")
        result["images"] = image_sizes(bundle, workdir)
        print(f"image sizes: {result['images']}")
    return result


if __name__ == "__main__":
    main()
