"""What the monitoring assets compare a day with: the model in production, its reference profile
and its training dataset (for the naive rule), read from the registry and the artifact store."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from batch_training.features.dataset import LoadedDataset, read_training_data
from batch_training.monitoring import PROFILE_FILE, ReferenceProfile, build_profile, load_profile
from batch_training.registry.versions import ModelVersion
from batch_training.spec import TrainingSpec
from batch_training.storage import AsOfArtifacts, PartitionStore


@dataclass
class Production:
    model: ModelVersion
    store: PartitionStore
    spec: TrainingSpec

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def bundle(self) -> Path:
        return Path(self.model.bundle_uri)

    def training_data(self) -> LoadedDataset:
        return read_training_data(AsOfArtifacts.of(self.store, self.spec.name, self.model.as_of.isoformat()).dataset)

    def profile(self) -> tuple[ReferenceProfile, str]:
        """The profile stored with the checkpoint; for a model trained before profiles were stored,
        one built now from its training dataset (the same rows, so the same profile)."""
        folder = Path(self.model.artifact_uri).parent
        if (folder / PROFILE_FILE).exists():
            return load_profile(folder), "stored with the model"
        m = self.spec.monitoring
        train = self.training_data().train
        return (build_profile(train, self.spec.features.numeric, self.spec.features.categorical, m.bins, m.top_categories),
                "built from the model's training dataset")


def production_of(registry, spec: TrainingSpec, store: PartitionStore) -> Production | None:
    with registry.open() as reg:
        model = reg.production(spec.name)
    return None if model is None else Production(model, store, spec)


def days_of(keys) -> list[dt.date]:
    return [dt.date.fromisoformat(k) for k in keys]
