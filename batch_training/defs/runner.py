"""Run a spec's jobs in this process against the instance in DAGSTER_HOME (used by the CLI).

Runs launched here are ordinary Dagster runs: they appear in the UI of the same DAGSTER_HOME. They
carry the host and pid of this process, so a later start can tell that a killed one is dead. A run
that fails is recorded in the failure ledger right away (no daemon is needed for that), exactly as
the recovery sensor records it; the days of a range that only waited on another day's failure are
then run on past the failed step, in this process.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster import DagsterEventType

from batch_training.defs import build_defs, build_plans
from batch_training.defs.automation import backfills
from batch_training.defs.automation.observations import observed
from batch_training.defs.automation.plans import JobPlan, plan_for
from batch_training.defs.automation.reaper import process_tags, reap_dead_runs
from batch_training.defs.automation.record import Recorded, record_failed_run
from batch_training.defs.summaries import CheckOutcome, check_outcomes, failure_text, materialized_days
from batch_training.evaluation.record import EvaluationReport
from batch_training.operations import tags
from batch_training.operations.alerts import alert_sink
from batch_training.operations.ledger import Ledger
from batch_training.operations.planner import Backfill, awaits_retry, plan_continuations
from batch_training.serving.record import ImageRecord
from batch_training.settings import DAGSTER_EVENT_ENV, Settings, alert_webhook_url, registry_url
from batch_training.spec import TrainingSpec
from batch_training.storage import write_text_atomic

# The consolidated SQLite event log keeps one database instead of one per run plus an index, and
# our subclass of it writes a batch of events in one transaction (see defs/event_log.py). A year's
# single-run backfill of two tables materializes 2,190 asset partitions; make bench has the figures.
_GENERATED = "# written by batch_training (rewritten when it changes; delete this line to keep your own)"
_LOCAL_INSTANCE_YAML = _GENERATED + """
telemetry:
  enabled: false
event_log_storage:
  module: batch_training.defs.event_log
  class: BatchingSqliteEventLogStorage
  config:
    base_dir: {home}/history/events
"""

# Console shows INFO and up (the event log in DAGSTER_HOME keeps everything).
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def local_instance(settings: Settings) -> dg.DagsterInstance:
    """The instance of $DAGSTER_HOME, or of ``<BATCH_TRAINING_HOME>/dagster_home`` (SQLite) when unset.

    A ``dagster.yaml`` this project wrote is brought up to date; one a user wrote is left alone."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str(settings.home / "dagster_home")
        os.environ["DAGSTER_HOME"] = home
    for name, value in DAGSTER_EVENT_ENV.items():
        os.environ.setdefault(name, value)
    Path(home).mkdir(parents=True, exist_ok=True)
    config = Path(home) / "dagster.yaml"
    wanted = _LOCAL_INSTANCE_YAML.format(home=Path(home).resolve())
    if not config.exists() or (config.read_text().startswith(_GENERATED) and config.read_text() != wanted):
        write_text_atomic(config, wanted)
    return dg.DagsterInstance.get()


@dataclass
class RunSummary:
    run_id: str
    success: bool
    days: dict[str, int] = field(default_factory=dict)   # asset -> days materialized by the run
    totals: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    checks: dict[str, CheckOutcome] = field(default_factory=dict)
    failure: str | None = None
    recorded: list[Recorded] = field(default_factory=list)  # the ledger entries of a failed run, per step
    continued: list["RunSummary"] = field(default_factory=list)  # the runs of the days the failure held back


class LocalRunner:
    """The CLI's runs of some specs on one instance, with their failures recorded in the ledger."""

    def __init__(self, defs: dg.Definitions, plans: list[JobPlan], settings: Settings, instance: dg.DagsterInstance,
                 ledger_url: str | None = None, sink=None):
        self.settings, self.instance, self.defs = settings, instance, defs
        self.by_job = {plan.job: plan for plan in plans}
        self.ledger_url = ledger_url or registry_url(settings)
        self.sink = sink or alert_sink(settings.alert_sink, alert_webhook_url())

    @classmethod
    def for_specs(cls, specs: list[TrainingSpec], settings: Settings, instance: dg.DagsterInstance) -> "LocalRunner":
        return cls(build_defs(specs, settings), build_plans(specs, settings), settings, instance)

    # -- running -------------------------------------------------------------------------------
    def execute(self, job_name: str, run_tags: dict[str, str], partition_key: str | None = None,
                run_config: dict | None = None, selection: list[dg.AssetKey] | None = None) -> dg.ExecuteInProcessResult:
        job = self.defs.resolve_job_def(job_name)
        return job.execute_in_process(
            instance=self.instance, partition_key=partition_key, raise_on_error=False,
            tags={tags.TRIGGER: "cli", **process_tags(), **run_tags}, run_config=run_config or QUIET,
            asset_selection=selection)

    def summarize(self, result: dg.ExecuteInProcessResult, spec: TrainingSpec) -> RunSummary:
        totals = {"rows_raw": 0, "rows_clean": 0, "rows_quarantined": 0, "rows_repaired": 0}
        reasons: dict[str, int] = {}
        cleansed = dg.AssetKey([spec.name, "cleansed"])
        for event in result.get_asset_materialization_events():
            mat = event.event_specific_data.materialization
            if mat.asset_key != cleansed:
                continue
            for key in totals:
                totals[key] += int(mat.metadata[key].value) if key in mat.metadata else 0
            for code, count in (mat.metadata["quarantine_reasons"].value if "quarantine_reasons" in mat.metadata else {}).items():
                reasons[code] = reasons.get(code, 0) + count
        days = {asset: len(found) for asset, found in materialized_days(result).items()}
        partition = result.dagster_run.tags.get(tags.PARTITION)
        summary = RunSummary(result.run_id, result.success, days, totals,
                             dict(sorted(reasons.items(), key=lambda kv: -kv[1])), check_outcomes(result, partition),
                             None if result.success else failure_text(result))
        if not result.success:
            summary.recorded = self.record(result.run_id)
            for recorded in summary.recorded:
                summary.continued += self.continue_held_back(recorded, spec)
        return summary

    # -- failures ------------------------------------------------------------------------------
    def _plan(self, run: dg.DagsterRun) -> JobPlan | None:
        return plan_for(self.instance, run, self.by_job)

    def ledger(self):
        """The failure ledger, its changes observed on their asset partitions (a context manager)."""
        return observed(Ledger(self.ledger_url), self.instance, ui_url=self.settings.ui_url)

    def record(self, run_id: str) -> list[Recorded]:
        """Record a failed run in the ledger (once: a run recorded before changes nothing)."""
        run = self.instance.get_run_by_id(run_id)
        plan = self._plan(run) if run is not None else None
        if plan is None:
            return []
        with self.ledger() as book:
            return record_failed_run(self.instance, run, plan, book, self.sink, self.settings,
                                     dt.datetime.now(dt.timezone.utc))

    def backfill_target(self, planned: Backfill):
        """What a planned backfill targets, as Dagster's subset of this code location's asset graph."""
        return backfills.target(self.defs.resolve_asset_graph(), self.by_job[planned.job].parts(planned))

    def backfill(self, planned: Backfill) -> backfills.BackfillSummary:
        """Run a planned backfill in this process, recorded as a Dagster backfill (the UI's Backfills
        tab shows it as it shows the daemon's), one run per contiguous range."""
        record = backfills.InProcessBackfill(
            self.instance, self.defs.resolve_asset_graph(), self.backfill_target(planned),
            self.by_job[planned.job].backfill_tags(planned), planned.title, planned.description)
        return record.run(lambda keys, run_tags: self.execute(planned.job, run_tags, selection=keys))

    def continue_held_back(self, recorded: Recorded, spec: TrainingSpec) -> list[RunSummary]:
        """Run the steps after the failed one for the days that passed: a backfill, a run per
        contiguous range."""
        if not recorded.continue_days:
            return []
        self.instance.add_run_tags(recorded.run.run_id, {tags.CONTINUED: "true"})
        return [self.summarize(result, spec) for planned in plan_continuations(recorded.run, recorded.continue_days, {})
                for result in self.backfill(planned).results]

    def settle(self) -> list[str]:
        """Before anything else: runs of this host whose process is gone are marked failed, and every
        failed run not yet in the ledger is recorded (runs launched from the UI without a daemon too)."""
        reaped = reap_dead_runs(self.instance)
        cursor_file = Path(os.environ.get("DAGSTER_HOME", self.settings.home)) / ".batch_training_ledger_cursor"
        cursor = cursor_file.read_text().strip() if cursor_file.exists() else None
        while True:
            changes = self.instance.fetch_run_status_changes(DagsterEventType.RUN_FAILURE, limit=100,
                                                             cursor=cursor, ascending=True)
            for record in changes.records:
                run = self.instance.get_run_by_id(record.event_log_entry.run_id)
                if run is not None and not awaits_retry(run.tags):
                    self.record(run.run_id)
            if not changes.records or not changes.cursor:
                break
            cursor = changes.cursor
        if cursor:
            cursor_file.write_text(cursor)
        return reaped


def run_ingest(runner: LocalRunner, spec: TrainingSpec, first: str, last: str) -> RunSummary:
    """Materialize raw/cleansed/quarantine of days first..last as one run."""
    from batch_training.defs.ingest import ingest_job_name

    result = runner.execute(ingest_job_name(spec), {tags.RANGE_START: first, tags.RANGE_END: last})
    return runner.summarize(result, spec)


@dataclass
class MonitorSummary:
    run_id: str
    success: bool
    days: dict[str, str]                        # day -> its drift level and live error, in words
    checks: dict[str, CheckOutcome]
    failure: str | None = None
    recorded: list[Recorded] = field(default_factory=list)


def run_monitor(runner: LocalRunner, spec: TrainingSpec, first: str, last: str) -> MonitorSummary:
    """Materialize data_drift and live_performance of days first..last as one run."""
    from batch_training.defs.monitoring import monitor_job_name

    result = runner.execute(monitor_job_name(spec), {tags.RANGE_START: first, tags.RANGE_END: last})
    days: dict[str, list[str]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        meta = {k: v.value for k, v in mat.metadata.items()}
        line = days.setdefault(mat.partition, [])
        if mat.asset_key.path[-1] == "data_drift" and "level" in meta:
            top = ", ".join(meta.get("top_features") or [])
            line.append(f"drift {meta['level']}" + (f" (max PSI {meta['max_psi']:.3f}; top: {top})" if "max_psi" in meta else ""))
        elif mat.asset_key.path[-1] == "live_performance":
            live = meta.get("live_error")
            line.append("live: " + (meta.get("status") or (f"{meta['metric']} {live:.4g} vs offline {meta['offline_error']:.4g}"
                                                          if live is not None else "no labelled rows")))
    summary = MonitorSummary(result.run_id, result.success, {d: "; ".join(v) for d, v in sorted(days.items()) if d},
                             check_outcomes(result), None if result.success else failure_text(result))
    if not result.success:
        summary.recorded = runner.record(result.run_id)
    return summary


def training_decision(runner: LocalRunner, spec: TrainingSpec, as_of: str, force: bool = False):
    """Whether a training asked for from the CLI would repeat the production model's (see
    ``batch_training.monitoring.retrain``): the retraining interval never applies here."""
    from batch_training.defs.automation.schedule import training_decision as decide
    from batch_training.defs.resources import RegistryResource
    from batch_training.storage import PartitionStore

    return decide(spec, PartitionStore(runner.settings.data_dir), RegistryResource(url=registry_url(runner.settings)), as_of,
                  force=force, scheduled=False)


@dataclass
class TrainSummary:
    run_id: str
    success: bool
    as_of: str
    report: EvaluationReport | None
    report_path: Path | None
    model_path: Path | None
    gate: str
    failure: str | None = None
    serving: ImageRecord | None = None
    promoted: bool = False
    recorded: list[Recorded] = field(default_factory=list)


def run_training(runner: LocalRunner, spec: TrainingSpec, as_of: str, epochs: int | None = None,
                 override_reason: str = "") -> TrainSummary:
    """Materialize the training chain of one as-of day as one run."""
    from batch_training.defs.training import train_job_name
    from batch_training.storage import AsOfArtifacts, PartitionStore

    run_config = {**QUIET, "ops": {
        f"{spec.name}__trained_model": {"config": {"epochs": epochs}},
        f"{spec.name}__evaluation_report": {"config": {"gate_override_reason": override_reason}},
    }}
    result = runner.execute(train_job_name(spec), {}, partition_key=as_of, run_config=run_config)
    artifacts = AsOfArtifacts.of(PartitionStore(runner.settings.data_dir), spec.name, as_of)
    report = EvaluationReport.read(artifacts.report_json) if artifacts.report_json.exists() else None
    gate = "not evaluated"
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.check_name == "gate":
            gate = "passed" if evaluation.passed else f"FAILED: {evaluation.description}"
    made = materialized_days(result)
    serving = ImageRecord.read(artifacts.image_record) if "server_image" in made else None
    summary = TrainSummary(result.run_id, result.success, as_of, report, artifacts.report_md if report else None,
                           artifacts.checkpoint if artifacts.checkpoint.exists() else None, gate,
                           None if result.success else failure_text(result), serving, "production_model" in made)
    if not result.success:
        summary.recorded = runner.record(result.run_id)
    return summary
