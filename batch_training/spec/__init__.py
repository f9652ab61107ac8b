"""Training specs (pydantic, from YAML). No Dagster here."""

from batch_training.spec.joins import JoinSpec
from batch_training.spec.load import SpecError, builtin_spec_dir, load_spec, load_specs, parse_spec
from batch_training.spec.pipeline import TrainingSpec
from batch_training.spec.tables import ColumnContract, QualitySpec, SourceSpec, TableSpec

__all__ = [
    "ColumnContract", "JoinSpec", "QualitySpec", "SourceSpec", "SpecError", "TableSpec", "TrainingSpec",
    "builtin_spec_dir", "load_spec", "load_specs", "parse_spec",
]
