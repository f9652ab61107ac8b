"""What the server-image step made of a candidate, as a typed value with one writer and one reader:
the model version, its bundle, the image (when one was built), the smoke test, the checkpoint it
came from and its metrics and lineage (``image.json`` in the step's folder)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from batch_training.storage.files import write_text_atomic


@dataclass(frozen=True)
class BuiltImage:
    ref: str
    digest: str
    size_bytes: int


@dataclass(frozen=True)
class ImageRecord:
    version: str
    bundle: dict[str, Any]            # BundleInfo.to_dict(): path, version, content_hash, files, onnx
    builder: str
    image: BuiltImage | None
    smoke_test: dict[str, Any]        # SmokeResult.to_dict()
    checkpoint: str
    metrics: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)

    @property
    def bundle_path(self) -> str:
        return self.bundle["path"]

    @property
    def content_hash(self) -> str:
        return self.bundle["content_hash"]

    @property
    def smoke_passed(self) -> bool:
        return bool(self.smoke_test["passed"])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: Path) -> None:
        write_text_atomic(Path(path), json.dumps(self.to_dict(), indent=1, default=str))

    @classmethod
    def read(cls, path: Path) -> "ImageRecord":
        doc = json.loads(Path(path).read_text())
        image = doc.get("image")
        return cls(doc["version"], doc["bundle"], doc["builder"], BuiltImage(**image) if image else None,
                   doc["smoke_test"], doc["checkpoint"], doc.get("metrics") or {}, doc.get("lineage") or {})
