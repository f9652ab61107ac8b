"""Serving: ONNX export, model bundles and the prediction server. No Dagster here.

``server/`` is the HTTP server itself; it is copied into every bundle and imports none of
``batch_training``, torch or pyarrow (import it from the bundle, not from here).
"""

from batch_training.serving.bundle import (
    DEFAULT_BASE_IMAGE, PORT, BundleInfo, build_bundle, bundle_requirements, content_hash, dockerfile,
)
from batch_training.serving.export import OPSET, ExportError, export_onnx

__all__ = [
    "DEFAULT_BASE_IMAGE", "OPSET", "PORT", "BundleInfo", "ExportError", "build_bundle", "bundle_requirements",
    "content_hash", "dockerfile", "export_onnx",
]
