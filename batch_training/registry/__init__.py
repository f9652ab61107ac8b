"""The model registry: versions with lineage and metrics, one production version per spec, and an
append-only promotion history. SQLAlchemy Core on SQLite (embedded default) or PostgreSQL; no Dagster."""

from batch_training.registry.database import redact
from batch_training.registry.registry import Registry
from batch_training.registry.versions import (
    ARCHIVED,
    CANDIDATE,
    PRODUCTION,
    REJECTED,
    STATUSES,
    ConflictError,
    ModelVersion,
    NotFoundError,
    RegistryError,
)

__all__ = [
    "ARCHIVED", "CANDIDATE", "PRODUCTION", "REJECTED", "STATUSES", "ConflictError", "ModelVersion",
    "NotFoundError", "Registry", "RegistryError", "redact",
]
