"""Smoke test of a running prediction server (stricter than TFX's InfraValidator): it must become
ready, answer the evaluation rows with the offline predictions (parity), refuse a malformed request
with a 4xx, and its latency is measured for single rows and 1000-row batches."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class SmokeResult:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    rows_compared: int = 0
    max_abs_diff: float | None = None
    malformed_status: int | None = None
    single_ms: dict[str, float] = field(default_factory=dict)   # p50, p99
    batch_1000_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _post(url: str, body: bytes, timeout: float = 30) -> tuple[int, dict | None]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None


def wait_ready(base_url: str, timeout_s: float, is_alive=lambda: True) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and is_alive():
        try:
            with urllib.request.urlopen(f"{base_url}/ready", timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.25)
    return False


def _values(predictions: list, task: str, classes: list[str] | None) -> np.ndarray:
    if task == "regression":
        return np.array([float(p) for p in predictions], dtype=np.float64)
    return np.array([[p["probabilities"][c] for c in classes] for p in predictions], dtype=np.float64)


def _percentiles(samples: list[float]) -> dict[str, float]:
    arr = np.array(samples) * 1000
    return {"p50": round(float(np.percentile(arr, 50)), 3), "p99": round(float(np.percentile(arr, 99)), 3), "n": len(samples)}


def smoke_test(base_url: str, rows: list[dict], expected: np.ndarray, task: str, classes: list[str] | None = None,
               tolerance: float = 1e-4, rtol: float = 1e-5, single_requests: int = 200,
               batch_requests: int = 20) -> SmokeResult:
    """``rows``: feature dicts of the evaluation rows; ``expected``: offline predictions ([n] or [n, k]).
    Each server prediction must lie within ``tolerance + rtol * |expected|`` of the offline one: float32
    ONNX and PyTorch kernels differ in the last bits, which is 1e-4 on a prediction of 1,000."""
    result = SmokeResult(passed=False)
    got = []
    for start in range(0, len(rows), 1000):
        status, body = _post(f"{base_url}/predict/batch", json.dumps({"rows": rows[start:start + 1000]}).encode())
        if status != 200 or body is None:
            result.reasons.append(f"batch prediction answered HTTP {status}")
            return result
        got.extend(body["predictions"])
    values = _values(got, task, classes)
    result.rows_compared = len(values)
    if values.shape != expected.shape:
        result.reasons.append(f"server answered predictions of shape {values.shape}, offline {expected.shape}")
    else:
        gap = np.abs(values - expected)
        result.max_abs_diff = float(np.max(gap)) if gap.size else 0.0
        outside = ~np.isclose(values, expected, rtol=rtol, atol=tolerance)  # NaN is never close
        if outside.any():
            worst = int(np.argmax(np.where(outside, np.nan_to_num(gap, nan=np.inf), -1.0)))
            result.reasons.append(
                f"server predictions differ from offline predictions by up to {result.max_abs_diff:.3g}; "
                f"{int(outside.sum())} beyond {tolerance:g} + {rtol:g} x |offline| "
                f"(e.g. {values.flat[worst]:.6g} vs {expected.flat[worst]:.6g})")
    status, _ = _post(f"{base_url}/predict", b'{"not a feature": "x"')
    result.malformed_status = status
    if not 400 <= status < 500:
        result.reasons.append(f"a malformed request answered HTTP {status}, expected a 4xx")
    single = []
    for i in range(min(single_requests, len(rows))):
        body = json.dumps(rows[i]).encode()
        start = time.perf_counter()
        _post(f"{base_url}/predict", body)
        single.append(time.perf_counter() - start)
    batch, payload = [], json.dumps({"rows": (rows * (1000 // max(len(rows), 1) + 1))[:1000]}).encode()
    for _ in range(batch_requests):
        start = time.perf_counter()
        _post(f"{base_url}/predict/batch", payload)
        batch.append(time.perf_counter() - start)
    result.single_ms, result.batch_1000_ms = _percentiles(single), _percentiles(batch)
    result.passed = not result.reasons
    return result
