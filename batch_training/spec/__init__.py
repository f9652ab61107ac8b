"""Training specs (pydantic, from YAML). No Dagster here."""

from batch_training.spec.load import SpecError, builtin_spec_dir, load_spec, load_specs, parse_spec
from batch_training.spec.model import ColumnContract, QualitySpec, SourceSpec, TrainingSpec

__all__ = [
    "ColumnContract", "QualitySpec", "SourceSpec", "SpecError", "TrainingSpec",
    "builtin_spec_dir", "load_spec", "load_specs", "parse_spec",
]
