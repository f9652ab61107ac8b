"""Where the training chain of one as-of day keeps its artifacts: one typed record, so no asset
finds another's output by a path it typed itself.

    <root>/<spec>/training_dataset/<D>/   train.parquet, holdout.parquet, preprocessing.json, dataset.json
    <root>/<spec>/trained_model/<D>/      model.pt, reference_profile.json
    <root>/<spec>/evaluation_report/<D>/  report.json, report.md, *.png
    <root>/<spec>/server_image/<D>/       image.json, bundle/
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from batch_training.storage.partitions import PartitionStore


@dataclass(frozen=True)
class AsOfArtifacts:
    spec: str
    as_of: str
    dataset: Path        # the training dataset's folder
    model: Path          # the trained model's folder
    report: Path         # the evaluation report's folder
    image: Path          # the server image's folder

    @classmethod
    def of(cls, store: PartitionStore, spec: str, as_of: str) -> "AsOfArtifacts":
        folder = lambda asset: store.artifact_dir(spec, asset, as_of)  # noqa: E731
        return cls(spec, as_of, folder("training_dataset"), folder("trained_model"), folder("evaluation_report"),
                   folder("server_image"))

    @property
    def checkpoint(self) -> Path:
        return self.model / "model.pt"

    @property
    def report_json(self) -> Path:
        return self.report / "report.json"

    @property
    def report_md(self) -> Path:
        return self.report / "report.md"

    @property
    def image_record(self) -> Path:
        return self.image / "image.json"

    @property
    def bundle(self) -> Path:
        return self.image / "bundle"
