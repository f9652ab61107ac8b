"""Train and evaluate: training_dataset, trained_model and evaluation_report (with its gate), per as-of day."""

import dagster as dg

from batch_training.defs.boundary import StepRetries
from batch_training.defs.partitions import own_selection
from batch_training.defs.serving import build_image_asset, build_promotion_asset
from batch_training.defs.training.dataset import build_dataset_asset
from batch_training.defs.training.report import build_report_asset
from batch_training.defs.training.trained_model import build_model_asset
from batch_training.operations import tags
from batch_training.spec import TrainingSpec


def train_job_name(spec: TrainingSpec) -> str:
    return f"{spec.name}__train"


def build_training_defs(spec: TrainingSpec, retries: StepRetries | None = None) -> dg.Definitions:
    assets = [build_dataset_asset(spec), build_model_asset(spec), build_report_asset(spec, retries),
              build_image_asset(spec, retries), build_promotion_asset(spec, retries)]
    job = dg.define_asset_job(
        train_job_name(spec), selection=own_selection(assets),
        description=f"Train, evaluate, build, smoke-test and promote a {spec.name} candidate as of a day "
                    "(one run per as-of day).",
        tags={tags.TRAINING: spec.name},
    )
    return dg.Definitions(assets=assets, jobs=[job])
