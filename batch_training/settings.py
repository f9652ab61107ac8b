"""Deployment settings: typed, validated, read from the environment when first asked for.

Nothing here runs at import time; ``get_settings()`` builds (and caches) the settings on first use,
so tests and tools can set the environment first. Secrets (the warehouse URL may carry a password)
are not copied here: resources read them through ``dagster.EnvVar`` at run time.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

WAREHOUSE_URL_VAR = "BATCH_TRAINING_WAREHOUSE_URL"
REGISTRY_URL_VAR = "BATCH_TRAINING_REGISTRY_URL"
ALERT_WEBHOOK_VAR = "BATCH_TRAINING_ALERT_WEBHOOK_URL"

# What Dagster 1.13 offers against its per-event cost, set for every process that creates or
# executes runs (the CLI's runs, `make up`'s webserver and daemon, the Helm values), unless the
# environment already says otherwise:
# - DAGSTER_EVENT_BATCH_SIZE: the materializations of a range run reach the event log in batches
#   (PostgreSQL inserts a batch in one statement; the embedded default's storage in one transaction).
# - DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS: one "materialization planned" event per asset
#   of a range run instead of one per day. Its cost: the UI then shows the days of a failed range
#   run as missing rather than failed. The recovery sensor reads run tags, materializations and
#   check metadata, never planned events, so it finds the same failed days either way
#   (test_event_log.py runs it both ways).
DAGSTER_EVENT_ENV = {"DAGSTER_EVENT_BATCH_SIZE": "1000", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true"}


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: Literal["local", "production"] = "local"
    home: Path
    spec_dir: Path | None = None
    image_builder: Literal["auto", "buildah", "docker", "none"] = "none"
    base_image: str | None = None
    # step retries of transient faults (DWH, registry, image builder): exponential backoff with jitter
    retry_max: int = Field(default=3, ge=0, le=20)
    retry_delay_s: float = Field(default=5.0, ge=0)
    # the recovery sensor's relaunches of failed partitions
    relaunch_budget: int = Field(default=3, ge=0, le=50, description="relaunches per failed partition")
    relaunch_backoff_s: float = Field(default=300.0, ge=0, description="wait before relaunch n: backoff * 2**(n-1)")
    recovery_interval_s: int = Field(default=60, ge=5, le=3600, description="seconds between recovery sensor ticks")
    alert_sink: Literal["log", "webhook"] = "log"
    ui_url: str = "http://127.0.0.1:3000"
    # where trained_model trains: in the step's process, torchrun on this machine, or a Kubernetes pod
    trainer_mode: Literal["in_process", "torchrun", "kubernetes"] = "in_process"
    trainer_processes: int = Field(default=2, ge=1, le=64, description="torchrun processes per node")
    trainer_timeout_s: float = Field(default=6 * 3600, gt=0, description="wall-clock limit of a training child")
    trainer_image: str | None = None          # kubernetes: the image with batch_training and torch
    trainer_namespace: str | None = None
    trainer_gpus: int = Field(default=0, ge=0, le=16, description="kubernetes: nvidia.com/gpu per pod (one rank each)")
    trainer_cpu: str | None = None            # kubernetes: the pod's CPU limit, e.g. "8"
    trainer_memory: str | None = None         # kubernetes: the pod's memory limit, e.g. "32Gi"
    trainer_node_selector: str | None = None  # kubernetes: "key=value,key=value"
    trainer_volume_claim: str | None = None   # kubernetes: the PVC holding BATCH_TRAINING_HOME (its artifact store)

    @property
    def node_selector(self) -> dict[str, str]:
        pairs = [p.strip() for p in (self.trainer_node_selector or "").split(",") if p.strip()]
        out = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"BATCH_TRAINING_TRAINER_NODE_SELECTOR: {pair!r} is not key=value")
            out[key.strip()] = value.strip()
        return out

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def local_warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def local_warehouse_url(self) -> str:
        return f"duckdb://{self.local_warehouse_path}"

    @property
    def warehouse_url_from_env(self) -> bool:
        return bool(os.environ.get(WAREHOUSE_URL_VAR))

    @property
    def local_registry_url(self) -> str:
        return f"sqlite:///{self.home / 'registry.db'}"

    @property
    def registry_url_from_env(self) -> bool:
        return bool(os.environ.get(REGISTRY_URL_VAR))


_OPTIONAL = {
    "retry_max": "BATCH_TRAINING_RETRY_MAX", "retry_delay_s": "BATCH_TRAINING_RETRY_DELAY_S",
    "relaunch_budget": "BATCH_TRAINING_RELAUNCH_BUDGET", "relaunch_backoff_s": "BATCH_TRAINING_RELAUNCH_BACKOFF_S",
    "recovery_interval_s": "BATCH_TRAINING_RECOVERY_INTERVAL_S",
    "alert_sink": "BATCH_TRAINING_ALERT_SINK", "ui_url": "BATCH_TRAINING_UI_URL",
    **{f"trainer_{name}": f"BATCH_TRAINING_TRAINER_{name.upper()}" for name in (
        "mode", "processes", "timeout_s", "image", "namespace", "gpus", "cpu", "memory", "node_selector",
        "volume_claim")},
}


class SettingsError(ValueError):
    pass


def settings_from_env(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    raw = {
        "environment": env.get("BATCH_TRAINING_ENV", "local"),
        "home": Path(env.get("BATCH_TRAINING_HOME", ".batch_training")).expanduser().resolve(),
        "spec_dir": env.get("BATCH_TRAINING_SPEC_DIR") or None,
        # the embedded default builds no image (a laptop may have neither buildah nor docker)
        "image_builder": env.get("BATCH_TRAINING_IMAGE_BUILDER", "none"),
        "base_image": env.get("BATCH_TRAINING_BASE_IMAGE") or None,
        **{key: env[var] for key, var in _OPTIONAL.items() if env.get(var)},
    }
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid batch_training settings from the environment: {problems}") from None
    try:
        settings.node_selector  # noqa: B018 - parsed here so that a bad value fails at start
    except ValueError as exc:
        raise SettingsError(f"invalid batch_training settings from the environment: {exc}") from None
    if settings.alert_sink == "webhook" and not env.get(ALERT_WEBHOOK_VAR):
        raise SettingsError(f"BATCH_TRAINING_ALERT_SINK=webhook needs {ALERT_WEBHOOK_VAR} (a secret)")
    if settings.environment == "production":
        missing = [v for v in (WAREHOUSE_URL_VAR, REGISTRY_URL_VAR) if not env.get(v)]
        if missing:
            raise SettingsError(f"BATCH_TRAINING_ENV=production needs {' and '.join(missing)} (URLs are secrets)")
    return settings


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_env()


# -- secrets: read from the environment when used, never stored on the settings -----------------------
def warehouse_url(settings: Settings, explicit: str | None = None) -> str:
    """The DWH URL: an explicit one, else the secret from the environment, else the local DuckDB file."""
    return explicit or os.environ.get(WAREHOUSE_URL_VAR) or settings.local_warehouse_url


def registry_url(settings: Settings) -> str:
    """The registry's (and the failure ledger's) database: the secret, else the local SQLite file."""
    return os.environ.get(REGISTRY_URL_VAR) or settings.local_registry_url


def alert_webhook_url() -> str | None:
    return os.environ.get(ALERT_WEBHOOK_VAR) or None
