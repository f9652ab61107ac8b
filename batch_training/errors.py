"""Failure classes, and the typed errors that carry them from where a failure happens.

Every error the platform raises on purpose is a ``PlatformError`` subclass whose class attribute
``failure_class`` says what kind of failure it is, so retries, the recovery sensor, the ledger and
the alerts decide from the type, never from the wording of a message:

- ``transient``: an outside system refused, dropped or timed out (DWH, registry, image builder);
  retried with backoff, then relaunched within an attempt budget.
- ``config``: wrong credentials, a database or table that does not exist, a bad connection
  option; the same every time until an operator fixes the settings. Not retried; alerted once.
- ``infrastructure``: the machine itself (disk full, read-only or failing file system); an operator
  must fix it. Not retried blindly; alerted.
- ``data``: the data broke the contract (a blocking check failed, too few days of data).
- ``gate``: a candidate model was not good enough (gate or smoke test).
- ``code``: anything else, a bug.

This module is a leaf: it imports nothing of the project, so every layer can use it.
"""

from __future__ import annotations

TRANSIENT, CONFIG, INFRASTRUCTURE, DATA, GATE, CODE = "transient", "config", "infrastructure", "data", "gate", "code"
FAILURE_CLASSES = (TRANSIENT, CONFIG, INFRASTRUCTURE, DATA, GATE, CODE)
#: classes worth a step retry and an automatic relaunch
RETRYABLE = (TRANSIENT,)


class PlatformError(Exception):
    """Base of the platform's own errors. ``failure_class`` is the class; ``hint`` what to do."""

    failure_class = CODE
    hint = ""


class TransientError(PlatformError):
    """An outside system did not answer as it should this time; the same call may work later."""

    failure_class = TRANSIENT


class ConfigurationError(PlatformError):
    """The settings are wrong (credentials, names, options): fix them, then rekick."""

    failure_class = CONFIG
    hint = "fix the deployment settings or secrets, then rekick"


class InfrastructureError(PlatformError):
    """The machine failed (disk full, read-only or failing file system): fix it, then rekick."""

    failure_class = INFRASTRUCTURE
    hint = "free or repair the storage, then rekick"


class DataError(PlatformError):
    """The data cannot be used as the contract and the spec require."""

    failure_class = DATA


class GateError(PlatformError):
    """A candidate model may not ship."""

    failure_class = GATE
