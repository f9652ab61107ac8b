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

from pydantic import BaseModel, ConfigDict, ValidationError

WAREHOUSE_URL_VAR = "BATCH_TRAINING_WAREHOUSE_URL"
REGISTRY_URL_VAR = "BATCH_TRAINING_REGISTRY_URL"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: Literal["local", "production"] = "local"
    home: Path
    spec_dir: Path | None = None
    image_builder: Literal["auto", "buildah", "docker", "none"] = "none"
    base_image: str | None = None

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
    }
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid batch_training settings from the environment: {problems}") from None
    if settings.environment == "production":
        missing = [v for v in (WAREHOUSE_URL_VAR, REGISTRY_URL_VAR) if not env.get(v)]
        if missing:
            raise SettingsError(f"BATCH_TRAINING_ENV=production needs {' and '.join(missing)} (URLs are secrets)")
    return settings


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_env()
