"""Record a failed run in the failure ledger, whichever way it was launched (schedule, sensor, UI,
CLI): the run's facts read from Dagster (``facts.py``), recorded and alerted on by the core
(``batch_training.operations.recording``)."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from batch_training.defs.automation.facts import failed_steps
from batch_training.defs.automation.observations import backfill_url
from batch_training.defs.automation.plans import JobPlan
from batch_training.operations import tags
from batch_training.operations.alerts import AlertSink
from batch_training.operations.ledger import Ledger
from batch_training.operations.recording import Recorded, record_failed_steps, run_url
from batch_training.settings import Settings

__all__ = ["Recorded", "record_failed_run"]


def record_failed_run(instance: dg.DagsterInstance, run: dg.DagsterRun, plan: JobPlan, book: Ledger, sink: AlertSink,
                      settings: Settings, now: dt.datetime, log=None) -> list[Recorded]:
    """Each failed step of the run in the ledger; one alert per failure class that is new."""
    backfill = run.tags.get(tags.BACKFILL)
    steps = failed_steps(instance, run, plan, run_url(settings, run.run_id),
                         backfill_url(settings.ui_url, backfill) if backfill else "")
    return record_failed_steps(steps, book, sink, settings, now, log=log)
