"""Small timing and memory helpers shared by the benchmark sections."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any


def say(message: str) -> None:
    """Progress on stderr, so stdout stays the report."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    """Best wall time of ``repeat`` calls, all times, and the last call's value."""
    times, value = [], None
    for _ in range(repeat):
        seconds, value = timed(fn)
        times.append(seconds)
    return min(times), times, value


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    """This process image's peak resident set size (VmHWM). Not ru_maxrss: Linux keeps that across
    execve, so a child would report its parent's peak at fork time."""
    return _status_mib("VmHWM")


def rss_mib() -> float:
    return _status_mib("VmRSS")


def figure(value: float, unit: str, **extra: Any) -> dict[str, Any]:
    """One machine-readable figure: value with its unit (and anything that explains it)."""
    return {"value": round(value, 6) if isinstance(value, float) else value, "unit": unit, **extra}


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")
