"""The raw types a spec's DWH columns had when first seen, the reference ``schema_drift`` compares
each day with: a column that arrives as BIGINT one day and VARCHAR the next has drifted, although
the contract can read both.

The reference is a small JSON file beside the raw days (``<root>/<spec>/raw/_schema.json``):
``{column: {"type": "int64", "first_seen": "2013-01-01"}}``. A column is learnt the first day it
arrives (with a type other than ``null``, which an all-NULL column of some sources has) and never
changed afterwards; to accept a new type, declare it as the column's ``raw_type`` in the spec.
Concurrent learners merge under a file lock, and the file is replaced atomically.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import pyarrow as pa

from batch_training.storage.files import write_text_atomic


def type_name(arrow_type: pa.DataType) -> str:
    """How a raw type is named in the reference, in the spec's ``raw_type`` and in messages."""
    return str(arrow_type.storage_type if isinstance(arrow_type, pa.BaseExtensionType) else arrow_type)


class SchemaReference:
    """First-seen raw types of one spec's table."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._known = self._read()

    def _read(self) -> dict[str, dict]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}

    def types(self) -> dict[str, dict]:
        return dict(self._known)

    def learn(self, schema: pa.Schema, day: str) -> None:
        """Remember the columns of ``schema`` not seen before (as of ``day``)."""
        new = {f.name: {"type": type_name(f.type), "first_seen": day} for f in schema
               if f.name not in self._known and not pa.types.is_null(f.type)}
        if not new:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            merged = {**new, **self._read()}  # what another writer learnt first wins
            write_text_atomic(self.path, json.dumps(merged, indent=1, sort_keys=True))
            self._known = merged
