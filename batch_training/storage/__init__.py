"""Artifact storage (local folder now; same interface for an object store later). No Dagster here."""

from batch_training.storage.directories import atomic_directory, sha256_file
from batch_training.storage.partitions import PartitionStore, atomic_write_parquet

__all__ = ["PartitionStore", "atomic_directory", "atomic_write_parquet", "sha256_file"]
