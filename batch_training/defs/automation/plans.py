"""The jobs of the code location as the recovery machinery sees them: each job's steps in order,
each with the asset keys it materializes, and the partitions a run of it was for."""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from batch_training.operations import tags
from batch_training.operations.planner import FROM_ASSETS, WHOLE_JOB, Backfill, Continuation, Relaunch, run_days


@dataclass(frozen=True)
class JobPlan:
    """One job of a spec: its steps, each with the asset keys it materializes, and what each asset
    is made from (so a failure's reach is the failed step and what depends on it, not the rest)."""

    spec: str
    job: str
    partitions_def: dg.PartitionsDefinition
    steps: list[tuple[str, list[dg.AssetKey]]]   # (op name, asset keys) in execution order
    upstream: dict[dg.AssetKey, frozenset[dg.AssetKey]] = field(default_factory=dict)
    job_tags: dict[str, str] = field(default_factory=dict)  # the job's own tags (a backfill's runs need them too)

    def asset_of(self, op_name: str) -> dg.AssetKey | None:
        return next((keys[0] for op, keys in self.steps if op == op_name), None)

    def steps_keys(self, op_name: str) -> list[dg.AssetKey]:
        """The asset keys one step materializes."""
        return next((keys for op, keys in self.steps if op == op_name), [])

    def _step_keys(self, asset: dg.AssetKey) -> list[dg.AssetKey]:
        return next(keys for _, keys in self.steps if asset in keys)

    def after(self, asset: dg.AssetKey) -> list[dg.AssetKey]:
        """The assets of the job that depend, directly or not, on this asset's step."""
        reached = set(self._step_keys(asset))
        grown = True
        while grown:
            more = {k for k, ups in self.upstream.items() if ups & reached} - reached
            grown, reached = bool(more), reached | more
        own = set(self._step_keys(asset))
        return [key for key in self.assets if key in reached and key not in own]

    def from_asset(self, asset: dg.AssetKey) -> list[dg.AssetKey]:
        """This asset's step and what depends on it (what its failure skipped)."""
        return [key for key in self.assets if key in set(self._step_keys(asset)) | set(self.after(asset))]

    def selection(self, planned: Relaunch | Continuation) -> list[dg.AssetKey]:
        """What a planned run selects of this job (its ``scope``): the whole job, the planned assets'
        steps and what depends on them (a relaunch), or only what depends on them (a continuation)."""
        if planned.scope == WHOLE_JOB:
            return self.assets
        reach = self.from_asset if planned.scope == FROM_ASSETS else self.after
        wanted = {key for a in planned.assets for key in reach(dg.AssetKey.from_user_string(a))}
        return [key for key in self.assets if key in wanted]

    def parts(self, backfill: Backfill) -> list[tuple[list[dg.AssetKey], list[str]]]:
        """What a planned backfill targets: each run's selection on each of its days."""
        return [(self.selection(run), run_days(run.first, run.last)) for run in backfill.runs]

    def backfill_tags(self, backfill: Backfill) -> dict[str, str]:
        return {**self.job_tags, **backfill.tags}

    def ran(self, run: dg.DagsterRun) -> bool:
        """Whether the run was of this job: the job itself, or Dagster's implicit asset job (a backfill,
        the UI's "Materialize") over assets of this job only."""
        if run.job_name == self.job:
            return True
        selected = set(run.asset_selection or ())
        return run.job_name.startswith(_IMPLICIT_JOBS) and bool(selected) and selected <= set(self.assets)

    @property
    def assets(self) -> list[dg.AssetKey]:
        return [key for _, keys in self.steps for key in keys]


def plan_of(spec: str, job: str, defs: dg.Definitions, partitions_def) -> JobPlan:
    steps = [(a.op.name, sorted(a.keys, key=lambda k: k.to_user_string())) for a in defs.assets]
    upstream = {key: frozenset(a.asset_deps.get(key, ())) for a in defs.assets for key in a.keys}
    job_tags = next((dict(j.tags or {}) for j in defs.jobs or [] if j.name == job), {})
    return JobPlan(spec, job, partitions_def, steps, upstream, job_tags)


def planned_partitions(run: dg.DagsterRun, plan: JobPlan) -> list[str]:
    """The partitions a run was for: its partition tag, or every key of its range tags."""
    if tags.PARTITION in run.tags:
        return [run.tags[tags.PARTITION]]
    start, end = run.tags.get(tags.RANGE_START), run.tags.get(tags.RANGE_END)
    if start and end:
        return list(plan.partitions_def.get_partition_keys_in_range(dg.PartitionKeyRange(start, end)))
    return []


# Runs launched from the asset graph ("Materialize") or by dg.materialize use Dagster's implicit jobs.
_IMPLICIT_JOBS = ("__ASSET_JOB", "__ephemeral_asset_job__")


def plan_for(instance: dg.DagsterInstance, run: dg.DagsterRun, by_job: dict[str, JobPlan]) -> JobPlan | None:
    """The plan of a run's job; for an implicit asset job, the plan of the assets it ran (its
    relaunch then goes through that named job)."""
    if run.job_name in by_job:
        return by_job[run.job_name]
    if not run.job_name.startswith(_IMPLICIT_JOBS):
        return None
    selected = set(run.asset_selection or ())
    failures = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=1).records
    step = failures[0].event_log_entry.dagster_event.step_key if failures else None
    for plan in by_job.values():
        if (step and plan.asset_of(step) is not None) or (not step and selected & set(plan.assets)):
            return plan
    return None
