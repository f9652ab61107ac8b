"""What the registry holds: one ``ModelVersion`` per (spec, version), its statuses, its errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from batch_training.errors import CONFIG, TRANSIENT, PlatformError

CANDIDATE, PRODUCTION, REJECTED, ARCHIVED = "candidate", "production", "rejected", "archived"
STATUSES = (CANDIDATE, PRODUCTION, REJECTED, ARCHIVED)

#: the fields that make up a version's content; a re-registration must match them all
CONTENT_FIELDS = (
    "as_of", "data_window", "data_version", "code_version", "metrics", "artifact_uri",
    "bundle_uri", "bundle_hash", "image_ref", "image_digest",
)


class RegistryError(PlatformError):
    """The registry refused a request (a caller's mistake, so a bug where code asked)."""


class RegistryUnavailable(RegistryError):
    """The registry's database could not answer this time (refused, dropped, restarting): retry."""

    failure_class = TRANSIENT


class RegistryConfigError(RegistryError):
    """The registry's database refused the settings (credentials, database name, options)."""

    failure_class = CONFIG
    hint = "check BATCH_TRAINING_REGISTRY_URL (user, password, database, options)"


class NotFoundError(RegistryError, KeyError):
    """No such spec/version (also a ``KeyError``, so ``except KeyError`` works)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "not found"


class ConflictError(RegistryError):
    """A concurrent change won (e.g. another promotion of the same spec); re-read and retry if still wanted."""

    failure_class = TRANSIENT


@dataclass(frozen=True)
class ModelVersion:
    """One registered model: what it was trained on, how it scored, where it lives, its status."""

    id: int
    spec: str
    version: str
    as_of: dt.date
    data_window: dict[str, Any]
    data_version: str
    code_version: str
    metrics: dict[str, Any]
    artifact_uri: str
    bundle_uri: str | None
    bundle_hash: str | None
    image_ref: str | None
    image_digest: str | None
    status: str
    created_at: dt.datetime  # UTC

    def content(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CONTENT_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: dates and times as ISO strings."""
        out = dataclasses.asdict(self)
        out["as_of"] = self.as_of.isoformat()
        out["created_at"] = self.created_at.isoformat()
        return out
