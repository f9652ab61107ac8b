"""A bundle's predictions as its server makes them, without the HTTP hop: the request body goes
through the server's own ``Service`` (JSON parsing, the strict request schema, derived features from
the raw fields, the model through ONNX Runtime), in this process. Used where the platform scores
the production model itself (live performance)."""

from __future__ import annotations

import json
from pathlib import Path

from batch_training.errors import DataError

CHUNK_ROWS = 5000


class NotServable(DataError, ValueError):
    """The server refused the rows (they break its request schema)."""


class ServedBundle:
    """A bundle's server in this process: loaded once (its metadata, its ONNX Runtime session),
    then ``predict`` as often as needed."""

    def __init__(self, bundle_dir: Path):
        from batch_training.serving.server.model import Model, read_metadata
        from batch_training.serving.server.service import Service

        metadata = read_metadata(Path(bundle_dir))
        self.service = Service(metadata, str(metadata["version"]), CHUNK_ROWS)
        self.service.model = Model(Path(bundle_dir))

    def predict(self, rows: list[dict]) -> list:
        out: list = []
        for start in range(0, len(rows), CHUNK_ROWS):
            body = json.dumps({"rows": rows[start:start + CHUNK_ROWS]}, allow_nan=True).encode()
            reply = self.service.batch(body, "application/json")
            doc = json.loads(bytes(reply.body))
            if reply.status_code != 200:
                raise NotServable(f"the server refused rows {start}..: {json.dumps(doc)[:500]}")
            out += doc["predictions"]
        return out
