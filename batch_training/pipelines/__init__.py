"""The dg defs folder (``[tool.dg.project] defs_module``): one subfolder per ``TrainingPipeline``
component, ``NAME/defs.yaml`` beside its spec ``NAME/NAME.yaml``, written by
``dg scaffold defs batch_training.TrainingPipeline NAME``. They load with the specs of
``batch_training/specs`` in the one code location (``batch_training/defs/project.py``)."""
