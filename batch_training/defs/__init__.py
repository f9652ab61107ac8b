"""Dagster adapters only: assets, checks, jobs and resources built from the specs."""

from __future__ import annotations

import warnings

import dagster as dg

from batch_training.defs.ingest import build_ingest_defs
from batch_training.defs.training import build_training_defs
from batch_training.defs.resources import resources_for
from batch_training.settings import Settings
from batch_training.spec import TrainingSpec


def build_defs(specs: list[TrainingSpec], settings: Settings) -> dg.Definitions:
    # Deliberate use of preview/beta APIs: partitioned asset checks (so a single-day run records its
    # check per partition) and BackfillPolicy.single_run (a year backfill is one run).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        per_spec = [build_ingest_defs(spec) for spec in specs]
        per_spec += [build_training_defs(spec) for spec in specs if spec.trainable]
    return dg.Definitions.merge(*per_spec, dg.Definitions(resources=resources_for(settings)))
