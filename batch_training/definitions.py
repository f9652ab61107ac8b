"""The code location: Definitions built from the training specs (``batch_training/specs`` or
$BATCH_TRAINING_SPEC_DIR) and the TrainingPipeline components of the dg defs folder
``batch_training/pipelines`` (how they combine: ``defs/project.py``).

Built lazily by Dagster's loader (``@dg.definitions``), so the environment is read when the code
location loads, not when this module is imported.
"""

import dagster as dg

from batch_training.defs.project import build_project_defs
from batch_training.settings import get_settings


@dg.definitions
def defs() -> dg.Definitions:
    return build_project_defs(get_settings())
