"""Artifact storage (local folder now; same interface for an object store later). No Dagster here."""

from batch_training.storage.as_of import AsOfArtifacts
from batch_training.storage.files import atomic_directory, atomic_file, sha256_file, write_bytes_atomic, write_text_atomic
from batch_training.storage.partitions import PartitionStore, atomic_write_parquet

__all__ = ["AsOfArtifacts", "PartitionStore", "atomic_directory", "atomic_file", "atomic_write_parquet", "sha256_file", "write_bytes_atomic",
           "write_text_atomic"]
