"""Text tables of the registry for the command line (plain functions; the main CLI prints them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from batch_training.operations.ledger import Failure
from batch_training.registry.versions import ModelVersion

MAX_METRICS = 3


def format_versions(versions: Iterable[ModelVersion], metrics: Sequence[str] | None = None) -> str:
    """One line per version: version, status, as_of, metrics (the named ones, else the first few
    top-level numbers), created (UTC, to the minute)."""
    versions = list(versions)
    if not versions:
        return "(no versions)"
    rows = [[v.version, v.status, v.as_of.isoformat(), _metrics(v.metrics, metrics), _when(v.created_at)]
            for v in versions]
    return _table(["version", "status", "as_of", "metrics", "created"], rows)


def format_history(rows: Iterable[Mapping[str, Any]]) -> str:
    """One line per status change, oldest first: when, version, from -> to, actor, reason."""
    rows = list(rows)
    if not rows:
        return "(no history)"
    cells = [[_when(r["at"]), r["version"], f"{r['from_status'] or '-'} -> {r['to_status']}", r["actor"],
              " ".join(str(r["reason"]).split())] for r in rows]
    return _table(["at", "version", "change", "actor", "reason"], cells)


def _metrics(values: Mapping[str, Any], names: Sequence[str] | None) -> str:
    if names is None:
        names = [k for k, v in values.items() if _is_number(v)][:MAX_METRICS]
    parts = [f"{name}={_number(values[name])}" for name in names if name in values]
    return " ".join(parts) or "-"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "n/a" if value is None else str(value)


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") + "Z"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


def format_failures(entries: Iterable[Failure]) -> str:
    """A text table for the command line: one line per entry, oldest first as given."""
    entries = list(entries)
    if not entries:
        return "(no failures)"
    rows = [[str(f.id), f.status, f.failure_class, f.spec, f.asset, f.partition or "-", str(f.attempts),
             f.run_id[:8], f.error[:60]] for f in entries]
    return _table(["id", "status", "class", "spec", "asset", "partition", "attempts", "run", "error"], rows)
