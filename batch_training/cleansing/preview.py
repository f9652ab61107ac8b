"""Small human-readable views of a day's cleansing, for the UI and the command line."""

from __future__ import annotations

import pyarrow as pa

from batch_training.cleansing.contract import RAW, REASONS, ROW_NUMBER


def _cell(value: object) -> str:
    text = "NULL" if value is None else repr(value) if isinstance(value, str) else str(value)
    return text.replace("|", "\\|")[:40]


def quarantine_preview(quarantine: pa.Table, limit: int = 10) -> str:
    """A Markdown table of the first quarantined rows: position, reasons and the offending raw values."""
    if quarantine.num_rows == 0:
        return "_no quarantined rows_"
    lines = ["| row | reasons | raw values |", "|---:|---|---|"]
    for record in quarantine.slice(0, limit).to_pylist():
        reasons = record[REASONS].split(";")
        columns = [r.split(":", 1)[0] for r in reasons]
        raw = record[RAW] or {}
        shown = ", ".join(f"{c}={_cell(raw.get(c))}" for c in dict.fromkeys(columns) if c in raw)
        lines.append(f"| {record[ROW_NUMBER]} | {', '.join(reasons)} | {shown or '(whole row)'} |")
    if quarantine.num_rows > limit:
        lines.append(f"\n_{quarantine.num_rows - limit} more rows in the quarantine table_")
    return "\n".join(lines)
