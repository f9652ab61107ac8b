"""Build and store: server_image (with its smoke test) and production_model."""

from batch_training.defs.serving.image import build_image_asset, model_version
from batch_training.defs.serving.promotion import build_promotion_asset

__all__ = ["build_image_asset", "build_promotion_asset", "model_version"]
