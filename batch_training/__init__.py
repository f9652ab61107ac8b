"""batch_training: the batch training pattern as Dagster assets built from training specs.

``batch_training.TrainingPipeline`` is the Dagster Component of one pipeline (``dg scaffold defs
batch_training.TrainingPipeline NAME``). It is resolved on first use, so the core packages
(spec, warehouse, cleansing, ...) import without Dagster.
"""

_LAZY = {"TrainingPipeline": "batch_training.defs.component"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'batch_training' has no attribute {name!r}")


def __dir__() -> list[str]:
    # dg's registry lists a module's components through dir(); the lazy name must show there too
    return sorted({*globals(), *_LAZY})
