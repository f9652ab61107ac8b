"""``<spec>/trained_model``: a PyTorch candidate trained on the as-of day's training dataset."""

from typing import Optional

import dagster as dg
from pydantic import Field

from batch_training.candidate.job import EpochLog, TrainJob
from batch_training.defs.boundary import failure_boundary
from batch_training.defs.partitions import as_of_partitions
from batch_training.defs.resources import ArtifactStoreResource
from batch_training.defs.training.launch import TrainerResource
from batch_training.features.dataset import read_dataset_info
from batch_training.spec import TrainingSpec
from batch_training.storage import AsOfArtifacts


class TrainingRunConfig(dg.Config):
    """Per-run tunables, shown in the launchpad; empty fields keep the spec's values."""

    epochs: Optional[int] = Field(default=None, ge=0, description="Epochs for this run (0 trains nothing: a deliberately bad candidate).")
    learning_rate: Optional[float] = Field(default=None, gt=0, description="AdamW learning rate for this run.")
    seed: Optional[int] = Field(default=None, description="Random seed for this run (same seed, same weights on CPU).")
    device: Optional[str] = Field(default=None, description="'cpu' or 'cuda'; empty uses a GPU when one is present.")


def build_model_asset(spec: TrainingSpec) -> dg.AssetsDefinition:
    key = dg.AssetKey([spec.name, "trained_model"])
    dataset = dg.AssetKey([spec.name, "training_dataset"])

    @dg.asset(
        key=key, partitions_def=as_of_partitions(spec), deps=[dataset], group_name=spec.name, kinds={"pytorch"},
        description="A tabular MLP (numeric inputs + categorical embeddings) trained with early stopping on a "
                    "seeded share of the training rows (the holdout days only evaluate). One self-describing "
                    "checkpoint: weights, model config, preprocessing, history and lineage (loads with "
                    "torch.load(weights_only=True)). Trains in process, under torchrun (DDP) or in a Kubernetes "
                    "pod, as the deployment's trainer mode says; the metadata is the same either way.",
    )
    def trained_model(context: dg.AssetExecutionContext, config: TrainingRunConfig,
                      artifacts: ArtifactStoreResource, trainer: TrainerResource) -> dg.MaterializeResult:
        with failure_boundary(context, f"training {spec.name} as of {context.partition_key}"):
            return trainer.train(context, _job(context, config, artifacts.partitions()), EpochLog(context.log.info))

    def _job(context, config: TrainingRunConfig, store) -> TrainJob:
        artifacts = AsOfArtifacts.of(store, spec.name, context.partition_key)
        info = read_dataset_info(artifacts.dataset)
        overrides = {k: v for k, v in {"epochs": config.epochs, "learning_rate": config.learning_rate,
                                        "seed": config.seed}.items() if v is not None}
        lineage = {"spec": spec.name, "as_of": info["as_of"], "data_version": info["data_version"],
                   "train_days": info["train_days"], "holdout_days": info["holdout_days"],
                   "tables": {f"{spec.name}/{table}": days for table, days in info.get("tables", {}).items()},
                   "run_id": context.run.run_id}
        m = spec.monitoring
        return TrainJob(dataset=str(artifacts.dataset), checkpoint=str(artifacts.checkpoint),
                        model=spec.model.model_copy(update=overrides).model_dump(mode="json"), lineage=lineage,
                        numeric=list(spec.features.numeric), categorical=list(spec.features.categorical),
                        bins=m.bins, top_categories=m.top_categories, device=config.device)

    return trained_model
