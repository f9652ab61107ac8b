"""Training specs (pydantic, from YAML). No Dagster here."""

from batch_training.spec.joins import JoinSpec
from batch_training.spec.load import SpecError, builtin_spec_dir, load_spec, load_specs, parse_spec
from batch_training.spec.model import ColumnContract, QualitySpec, SourceSpec, TableSpec
from batch_training.spec.pipeline import TrainingSpec

__all__ = [
    "ColumnContract", "JoinSpec", "QualitySpec", "SourceSpec", "SpecError", "TableSpec", "TrainingSpec",
    "builtin_spec_dir", "load_spec", "load_specs", "parse_spec",
]
