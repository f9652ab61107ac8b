"""One training of a ``trained_model`` partition as plain data, the same whichever way it runs: in
the asset's own process, under ``torchrun`` on this machine, or in a Kubernetes pod.

``TrainJob`` says what to train (the dataset folder, the model settings, the lineage) and where the
results go; it travels as a JSON file beside the checkpoint, which every rank reads. ``run_job``
trains (each rank its shard) and, on rank 0, writes the checkpoint and the reference profile
atomically and returns the summary that becomes the asset's metadata: ``metadata(summary)`` in
Dagster Pipes' ``{"raw_value", "type"}`` form, which the child reports and the in-process path
turns into the same values, so the asset's metadata does not depend on the mode.

A rank that fails writes what failed (``failure_file(rank)``: its class, type and message), so the
step fails with the child's own error and class rather than a bare exit code.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batch_training.features.dataset import read_training_data
from batch_training.monitoring import build_profile, save_profile
from batch_training.operations.classify import classify_exception, summary
from batch_training.spec.training import ModelSpec
from batch_training.storage import write_text_atomic

if TYPE_CHECKING:  # torch loads when a job runs, not when the definitions that describe one load
    from batch_training.training import Callback, EpochStats, World

MODES = ("in_process", "torchrun", "kubernetes")


@dataclass(frozen=True)
class TrainJob:
    dataset: str                 # the as-of day's training dataset folder
    checkpoint: str              # where rank 0 writes the checkpoint
    model: dict[str, Any]        # the spec's model section, with the run's overrides
    lineage: dict[str, Any]
    numeric: list[str] = field(default_factory=list)      # the reference profile's features
    categorical: list[str] = field(default_factory=list)
    bins: int = 10
    top_categories: int = 20
    device: str | None = None
    mode: str = "in_process"

    @property
    def folder(self) -> Path:
        return Path(self.checkpoint).parent

    def failure_file(self, rank: int) -> Path:
        return self.folder / f".train_failure.rank{rank}.json"

    def write(self, path: Path) -> Path:
        write_text_atomic(path, json.dumps(asdict(self), indent=1, default=str))
        return path

    @classmethod
    def read(cls, path: str | Path) -> "TrainJob":
        return cls(**json.loads(Path(path).read_text()))

    def clear_failures(self, world_size: int) -> None:
        for rank in range(world_size):
            self.failure_file(rank).unlink(missing_ok=True)


class EpochLog:
    """Training progress as one line per epoch (and member of an ensemble) to ``log(line)``: the
    step's log in process, the Pipes log from a child's rank 0."""

    def __init__(self, log, world_size: int = 1):
        self.log, self.member = log, ""
        self.per_rank = " per rank" if world_size > 1 else ""

    def on_member_start(self, i: int, n: int) -> None:
        self.member = f"model {i + 1} of {n}, " if n > 1 else ""

    def on_epoch_end(self, stats: EpochStats) -> None:
        self.log(f"{self.member}epoch {stats.epoch}: train loss {stats.train_loss:.4f}, valid loss "
                 f"{stats.valid_loss:.4f}, {stats.samples_per_s:,.0f} samples/s{self.per_rank}"
                 f"{' (best)' if stats.improved else ''}")


def run_job(job: TrainJob, world: World | None = None, callbacks: Sequence[Callback] = ()) -> dict[str, Any] | None:
    """Train (one process unless ``world`` says otherwise); on rank 0 write the checkpoint and the
    profile and return the summary (None elsewhere)."""
    from batch_training.candidate.fit import fit_candidate
    from batch_training.training import World, save_checkpoint

    if world is None:
        world = World()
    data = read_training_data(Path(job.dataset))
    model = ModelSpec.model_validate(job.model)
    outcome = fit_candidate(data, model, job.lineage, callbacks=callbacks, device=job.device, world=world)
    if not world.is_main:
        return None
    job.folder.mkdir(parents=True, exist_ok=True)
    digest = save_checkpoint(Path(job.checkpoint), outcome.checkpoint)
    # the training window's reference, which each later day's drift is measured against
    profile = save_profile(build_profile(data.train, job.numeric, job.categorical, job.bins, job.top_categories),
                           job.folder)
    seconds = outcome.seconds
    meta = outcome.checkpoint.metadata
    out = {
        "path": str(Path(job.checkpoint)), "sha256": digest, "dagster/uri": Path(job.checkpoint).resolve().as_uri(),
        "reference_profile": str(profile),
        "epochs_run": outcome.epochs_run, "members": len(outcome.results), "best_epoch": meta["best_epoch"],
        "best_valid_loss": float(meta["best_valid_loss"]), "stopped_early": meta["stopped_early"],
        "train_seconds": round(seconds, 2),
        "samples_per_s": round(outcome.rows_train * outcome.epochs_run / seconds) if seconds else 0,
        "device": outcome.result.device, "parameters": outcome.parameters,
        "rows_train": outcome.rows_train, "rows_valid": outcome.rows_valid, "data_version": data.info["data_version"],
        "trainer_mode": job.mode, "world_size": world.size,
        "hyperparameters": model.model_dump(),
    }
    if (chosen := meta.get("decision_threshold")):  # binary: chosen on the validation rows
        out["decision_threshold"] = float(chosen["threshold"])
    return out


_PATHS = ("path", "reference_profile")


def metadata(summary_: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The summary as Pipes metadata: every value with its type, paths as paths, structures as JSON."""
    out = {}
    for key, value in summary_.items():
        if key in _PATHS:
            kind = "path"
        elif value is None:
            kind = "null"
        elif isinstance(value, bool):
            kind = "bool"
        elif isinstance(value, int):
            kind = "int"
        elif isinstance(value, float):
            kind = "float"
        elif isinstance(value, (list, dict)):
            kind = "json"
        else:
            kind, value = "text", str(value)
        out[key] = {"raw_value": value, "type": kind}
    return out


def data_version(summary_: dict[str, Any]) -> str:
    """The trained model's data version: its checkpoint's digest (first 16 hex digits)."""
    return str(summary_["sha256"])[:16]


def write_failure(job: TrainJob, world: World, exc: BaseException) -> None:
    """What failed on this rank, for the orchestrator to fail the step with (never raises)."""
    try:
        write_text_atomic(job.failure_file(world.rank), json.dumps({
            "rank": world.rank, "world_size": world.size, "at": time.time(), "failure_class": classify_exception(exc),
            "type": type(exc).__name__, "message": summary(exc)[:2000],
            "traceback": "".join(traceback.format_exception(exc))[-4000:]}))
    except Exception:  # noqa: BLE001 - the failure itself matters more than its report
        pass


def read_failures(job: TrainJob, world_size: int) -> list[dict[str, Any]]:
    """The failures the ranks wrote, the first to fail first (the cause; the others mostly lost it)."""
    out = []
    for rank in range(world_size):
        path = job.failure_file(rank)
        if path.exists():
            try:
                out.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
    return sorted(out, key=lambda f: (f.get("at", 0), f["rank"]))
