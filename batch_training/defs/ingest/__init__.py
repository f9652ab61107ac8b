"""Retrieve and cleanse: raw, cleansed and quarantine assets of a spec, and their ingest job."""

from __future__ import annotations

import dagster as dg

from batch_training.defs.boundary import StepRetries
from batch_training.defs.ingest.cleansed import build_cleansing_assets
from batch_training.defs.ingest.raw import build_raw_asset
from batch_training.defs.partitions import own_selection
from batch_training.defs.tables import tables
from batch_training.spec import TrainingSpec


def ingest_job_name(spec: TrainingSpec) -> str:
    return f"{spec.name}__ingest"


def build_ingest_defs(spec: TrainingSpec, retries: StepRetries | None = None) -> dg.Definitions:
    """The raw, cleansed and quarantine assets of the main table and of each joined table, in one job."""
    assets = [asset for table in tables(spec) for asset in (build_raw_asset(table, retries), build_cleansing_assets(table))]
    job = dg.define_asset_job(
        ingest_job_name(spec),
        selection=own_selection(assets),
        description=f"Extract and cleanse days of {spec.name}: raw, cleansed, quarantine and their checks.",
    )
    return dg.Definitions(assets=assets, jobs=[job])
