"""Plain-value conversions between the API and the tables (JSON normalization, rows, timestamps)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from batch_training.registry.versions import ModelVersion, RegistryError


def to_json(value: Any, where: str) -> Any:
    """A JSON-ready copy: dates as ISO text, tuples as lists, numpy scalars as Python numbers, and
    NaN/inf as ``None`` (as JSON itself has no such numbers; PostgreSQL's json type rejects them)."""
    if isinstance(value, Mapping):
        return {str(k): to_json(v, where) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v, where) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalar
        return to_json(value.item(), where)
    raise RegistryError(f"{where}: {type(value).__name__} is not JSON ({value!r})")


def to_day(value: dt.date | str, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise RegistryError(f"{where} must be a day, not a datetime ({value.isoformat()})")
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise RegistryError(f"{where} must be a day (YYYY-MM-DD), not {value!r}") from None


def utc(value: dt.datetime) -> dt.datetime:
    """Timestamps come back naive from SQLite (stored as UTC) and zoned from PostgreSQL."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def version_from_row(row: Any) -> ModelVersion:
    m = row._mapping
    as_of = m["as_of"]
    return ModelVersion(
        id=m["id"], spec=m["spec"], version=m["version"],
        as_of=as_of if isinstance(as_of, dt.date) else dt.date.fromisoformat(as_of),
        data_window=dict(m["data_window"] or {}), data_version=m["data_version"],
        code_version=m["code_version"], metrics=dict(m["metrics"] or {}), artifact_uri=m["artifact_uri"],
        bundle_uri=m["bundle_uri"], bundle_hash=m["bundle_hash"], image_ref=m["image_ref"],
        image_digest=m["image_digest"], status=m["status"], created_at=utc(m["created_at"]),
    )


def history_from_row(row: Any) -> dict[str, Any]:
    m = dict(row._mapping)
    m["at"] = utc(m["at"])
    return m


def non_empty(text: str, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise RegistryError(f"a {what} is required (non-empty text)")
    return text.strip()
