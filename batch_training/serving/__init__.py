"""Serving: ONNX export, model bundles and the prediction server. No Dagster here.

``server/`` is the HTTP server itself; it is copied into every bundle and imports none of
``batch_training``, torch or pyarrow (import it from the bundle, not from here). The names below
load on first use, so importing ``server`` (training's derived features do) does not import torch.
"""

from importlib import import_module

_FROM = {
    "DEFAULT_BASE_IMAGE": "bundle", "PORT": "bundle", "BundleInfo": "bundle", "build_bundle": "bundle",
    "bundle_requirements": "bundle", "content_hash": "bundle", "dockerfile": "bundle",
    "OPSET": "export", "ExportError": "export", "export_onnx": "export",
}
__all__ = sorted(_FROM)


def __getattr__(name: str):
    if name not in _FROM:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_FROM[name]}"), name)
