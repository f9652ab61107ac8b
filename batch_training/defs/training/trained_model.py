"""``<spec>/trained_model``: a PyTorch candidate trained on the as-of day's training dataset."""

from typing import Optional

import dagster as dg
from pydantic import Field

from batch_training.candidate import fit_candidate
from batch_training.defs.boundary import failure_boundary
from batch_training.defs.partitions import as_of_partitions
from batch_training.defs.resources import ArtifactStoreResource
from batch_training.defs.uris import URI, file_uri
from batch_training.features.dataset import read_training_data
from batch_training.monitoring import build_profile, save_profile
from batch_training.spec import TrainingSpec
from batch_training.storage import AsOfArtifacts
from batch_training.training import EpochStats, save_checkpoint


class TrainingRunConfig(dg.Config):
    """Per-run tunables, shown in the launchpad; empty fields keep the spec's values."""

    epochs: Optional[int] = Field(default=None, ge=0, description="Epochs for this run (0 trains nothing: a deliberately bad candidate).")
    learning_rate: Optional[float] = Field(default=None, gt=0, description="AdamW learning rate for this run.")
    seed: Optional[int] = Field(default=None, description="Random seed for this run (same seed, same weights on CPU).")
    device: Optional[str] = Field(default=None, description="'cpu' or 'cuda'; empty uses a GPU when one is present.")


class _LogEpochs:
    """Trainer callback: one run-log line per epoch, so progress shows while it trains."""

    def __init__(self, log):
        self.log, self.member = log, ""

    def on_member_start(self, i: int, n: int) -> None:
        self.member = f"model {i + 1} of {n}, " if n > 1 else ""

    def on_epoch_end(self, stats: EpochStats) -> None:
        self.log.info(f"{self.member}epoch {stats.epoch}: train loss {stats.train_loss:.4f}, valid loss "
                      f"{stats.valid_loss:.4f}, {stats.samples_per_s:,.0f} samples/s{' (best)' if stats.improved else ''}")


def _epochs(best):
    """One member's best epoch as a number (None shows as null); an ensemble's as a list."""
    return dg.MetadataValue.json(best) if isinstance(best, list) else (best if best is not None else dg.MetadataValue.null())


def build_model_asset(spec: TrainingSpec) -> dg.AssetsDefinition:
    key = dg.AssetKey([spec.name, "trained_model"])
    dataset = dg.AssetKey([spec.name, "training_dataset"])

    @dg.asset(
        key=key, partitions_def=as_of_partitions(spec), deps=[dataset], group_name=spec.name, kinds={"pytorch"},
        description="A tabular MLP (numeric inputs + categorical embeddings) trained with early stopping on a "
                    "seeded share of the training rows (the holdout days only evaluate). One self-describing "
                    "checkpoint: weights, model config, preprocessing, history and lineage (loads with "
                    "torch.load(weights_only=True)).",
    )
    def trained_model(context: dg.AssetExecutionContext, config: TrainingRunConfig,
                      artifacts: ArtifactStoreResource) -> dg.MaterializeResult:
        with failure_boundary(context, f"training {spec.name} as of {context.partition_key}"):
            return _train(context, config, artifacts.partitions())

    def _train(context, config: TrainingRunConfig, store) -> dg.MaterializeResult:
        artifacts = AsOfArtifacts.of(store, spec.name, context.partition_key)
        data = read_training_data(artifacts.dataset)
        overrides = {k: v for k, v in {"epochs": config.epochs, "learning_rate": config.learning_rate,
                                        "seed": config.seed}.items() if v is not None}
        model_spec = spec.model.model_copy(update=overrides)
        lineage = {"spec": spec.name, "as_of": data.info["as_of"], "data_version": data.info["data_version"],
                   "train_days": data.info["train_days"], "holdout_days": data.info["holdout_days"],
                   "tables": {f"{spec.name}/{table}": days for table, days in data.info.get("tables", {}).items()},
                   "run_id": context.run.run_id}
        outcome = fit_candidate(data, model_spec, lineage, callbacks=[_LogEpochs(context.log)], device=config.device)
        folder = artifacts.model
        folder.mkdir(parents=True, exist_ok=True)
        digest = save_checkpoint(artifacts.checkpoint, outcome.checkpoint)
        # the training window's reference, which each later day's drift is measured against
        m = spec.monitoring
        profile_path = save_profile(build_profile(data.train, spec.features.numeric, spec.features.categorical,
                                                  m.bins, m.top_categories), folder)
        seconds = outcome.seconds
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(artifacts.checkpoint)), "sha256": digest,
                URI: file_uri(artifacts.checkpoint),
                "reference_profile": dg.MetadataValue.path(str(profile_path)),
                "epochs_run": outcome.epochs_run, "members": len(outcome.results),
                "best_epoch": _epochs(outcome.checkpoint.metadata["best_epoch"]),
                "best_valid_loss": float(outcome.checkpoint.metadata["best_valid_loss"]),
                "stopped_early": outcome.checkpoint.metadata["stopped_early"],
                "train_seconds": round(seconds, 2),
                "samples_per_s": round(outcome.rows_train * outcome.epochs_run / seconds) if seconds else 0,
                "device": outcome.result.device, "parameters": outcome.parameters,
                "rows_train": outcome.rows_train, "rows_valid": outcome.rows_valid,
                "data_version": data.info["data_version"],
                **({"decision_threshold": float(chosen["threshold"])}  # binary: chosen on the validation rows
                   if (chosen := outcome.checkpoint.metadata.get("decision_threshold")) else {}),
                "hyperparameters": dg.MetadataValue.json(model_spec.model_dump()),
            },
            data_version=dg.DataVersion(digest[:16]),
        )

    return trained_model
