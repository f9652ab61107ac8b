"""The code location: Definitions built from the training specs and ``defs/``.

Built lazily by Dagster's loader (``@dg.definitions``), so the environment is read when the code
location loads, not when this module is imported.
"""

import dagster as dg

from batch_training.defs import build_defs
from batch_training.settings import get_settings
from batch_training.spec import load_specs


@dg.definitions
def defs() -> dg.Definitions:
    settings = get_settings()
    return build_defs(load_specs(settings.spec_dir), settings)
