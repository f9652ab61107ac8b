"""Growth of extraction and cleansing time and peak memory with 1×, 3×, 10× the rows.

Each scale runs in a fresh process (``bench.child scale``) against ``flights_<n>x`` in PostgreSQL:
every day extracted in chunks and written raw as the raw asset does, then the raw days read back and
cleansed in batches of ``source.cleanse_batch_rows`` as the cleanse step does. Linear growth: time
per row at n× within 25 % of 1×'s. Bounded memory: the peak RSS above the process's baseline (after
imports) at 10× within 1.5× of 1×'s, i.e. set by a chunk and a batch, not the table.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.measure import figure, ratio, say

MIB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]  # children run ``-m bench.child`` from the repository root


def _child(url: str, scale: int) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.child", "scale", url, str(scale)],
                          capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode:
        raise RuntimeError(f"bench.child scale {scale} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(r: dict, base: dict) -> dict:
    grown = r["peak_rss_mib"] - r["baseline_rss_mib"]
    base_grown = base["peak_rss_mib"] - base["baseline_rss_mib"]
    return {
        "rows": figure(r["rows"], "rows"), "days": figure(r["days"], "days"),
        "extract": figure(r["extract_s"], "s", ratio_to_1x=round(ratio(r["extract_s"], base["extract_s"]), 3),
                          rows_per_s=round(r["rows"] / r["extract_s"])),
        "cleanse": figure(r["cleanse_s"], "s", ratio_to_1x=round(ratio(r["cleanse_s"], base["cleanse_s"]), 3),
                          rows_per_s=round(r["rows"] / r["cleanse_s"])),
        "rows_ratio_to_1x": figure(ratio(r["rows"], base["rows"]), "x"),
        "baseline_rss": figure(r["baseline_rss_mib"], "MiB", note="after imports, before any data"),
        "connected_rss": figure(r["connected_rss_mib"], "MiB", note="after connecting (driver loaded)"),
        "peak_rss": figure(r["peak_rss_mib"], "MiB", ratio_to_1x=round(ratio(r["peak_rss_mib"], base["peak_rss_mib"]), 3)),
        "peak_rss_above_baseline": figure(grown, "MiB", ratio_to_1x=round(ratio(grown, base_grown), 3)),
        "arrow_pool_peak": figure(r["arrow_peak_bytes"] / MIB, "MiB",
                                  ratio_to_1x=round(ratio(r["arrow_peak_bytes"], base["arrow_peak_bytes"]), 3)),
        "largest_day": figure(r["largest_day_bytes"] / MIB, "MiB"),
        "largest_chunk": figure(r["largest_chunk_bytes"] / MIB, "MiB"),
        "whole_table_arrow": figure(r["table_bytes"] / MIB, "MiB"),
    }


def measure(url: str, scales: list[int]) -> dict:
    raw = {}
    for n in scales:
        say(f"scaling: {n}x in a fresh process")
        raw[n] = _child(url, n)
        say(f"scaling: {n}x {raw[n]['rows']} rows: extract {raw[n]['extract_s']:.1f} s, cleanse "
            f"{raw[n]['cleanse_s']:.1f} s, peak RSS {raw[n]['peak_rss_mib']:.0f} MiB")
    base = raw[scales[0]]
    return {f"{n}x": _row(raw[n], base) for n in scales}


def per_row_growth(scaled: dict, key: str, scale: str) -> float:
    """Time per row at ``scale`` over time per row at 1× (1.0 = perfectly linear)."""
    r, b = scaled[scale], scaled["1x"]
    return ratio(r[key]["value"] / r["rows"]["value"], b[key]["value"] / b["rows"]["value"])
