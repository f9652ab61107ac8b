"""Artifact storage (local folder now; same interface for an object store later). No Dagster here."""

from batch_training.storage.partitions import PartitionStore, atomic_write_parquet

__all__ = ["PartitionStore", "atomic_write_parquet"]
