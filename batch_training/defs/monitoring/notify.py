"""Monitoring alerts: one per run and kind, naming the days; a delivery failure is logged, never
fails the step (the check and the metadata already say what was found)."""

from __future__ import annotations

import dagster as dg

from batch_training.operations.alerts import Alert, AlertError
from batch_training.operations.planner import days_text
from batch_training.operations.recording import run_url
from batch_training.settings import Settings
from batch_training.spec import TrainingSpec


def alert_days(alerts, settings: Settings, context: dg.AssetExecutionContext, spec: TrainingSpec, kind: str,
               days: list[str], title: str, details: dict, hint: str) -> None:
    url = run_url(settings, context.run.run_id)
    alert = Alert(kind=kind, title=f"{spec.name}: {title}", text="; ".join(f"{d}: {t}" for d, t in sorted(details.items())[:10]),
                  spec=spec.name, run_url=url, days=days_text(days), hint=hint, details={"days": days})
    try:
        alerts.sink().send(alert)
    except AlertError as exc:
        context.log.warning(f"{kind} alert not delivered: {exc}")
