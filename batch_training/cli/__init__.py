"""The ``batch-training`` command line (``main``); see ``main.py``."""

from batch_training.cli.main import main

__all__ = ["main"]
