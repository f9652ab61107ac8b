"""Time spent per Arrow compute function, to say what dominates a cleansing run.

While active, every public function of ``pyarrow.compute`` (looked up as ``pc.<name>`` at call
time, as the contract does) is wrapped with a timer; only the outermost call is counted, so a
function that calls another is not counted twice. ``Array.cast`` and ``Table.filter``/``take``
methods bypass the module and show up in the remainder ("outside pyarrow.compute").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Iterator

import pyarrow.compute as pc


@contextmanager
def kernel_timer() -> Iterator[dict[str, list[float]]]:
    """Yield ``{name: [seconds, calls]}``, filled while the block runs; restores ``pc`` after."""
    totals: dict[str, list[float]] = {}
    depth = [0]
    originals = {name: fn for name, fn in vars(pc).items()
                 if callable(fn) and not name.startswith("_") and not isinstance(fn, type)}

    def wrap(name: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            if depth[0]:
                return fn(*args, **kwargs)
            depth[0] += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
                slot = totals.setdefault(name, [0.0, 0])
                slot[0] += time.perf_counter() - start
                slot[1] += 1
        return timed

    for name, fn in originals.items():
        setattr(pc, name, wrap(name, fn))
    try:
        yield totals
    finally:
        for name, fn in originals.items():
            setattr(pc, name, fn)


def kernel_breakdown(run: Callable[[], object], top: int = 10) -> dict:
    """Run ``run`` once under the kernel timer; the top functions by time, and the rest."""
    with kernel_timer() as totals:
        start = time.perf_counter()
        run()
        total = time.perf_counter() - start
    in_pc = sum(seconds for seconds, _ in totals.values())
    ranked = sorted(totals.items(), key=lambda kv: -kv[1][0])[:top]
    return {"total_s": round(total, 4), "in_pyarrow_compute_s": round(in_pc, 4),
            "outside_pyarrow_compute_s": round(total - in_pc, 4),
            "calls_into_pyarrow_compute": int(sum(calls for _, calls in totals.values())),
            "top": [{"function": name, "seconds": round(s, 4), "calls": int(c), "share": round(s / total, 4)}
                    for name, (s, c) in ranked]}
