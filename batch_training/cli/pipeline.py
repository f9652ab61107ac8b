"""``batch-training``: seed the sample DWH, run the pipeline, list specs."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from batch_training.settings import get_settings, warehouse_url


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)") from None


def _rename(text: str) -> tuple[str, str]:
    old, sep, new = text.partition("=")
    if not sep or not old or not new:
        raise argparse.ArgumentTypeError(f"{text!r} is not OLD=NEW")
    return old, new


def cmd_seed(args: argparse.Namespace) -> int:
    from batch_training.sample.seed import SeedOptions, seed_warehouse

    options = SeedOptions(anomaly_rate=args.anomaly_rate, seed=args.seed, first_day=args.first_day,
                          last_day=args.last_day, empty_days=args.empty_day, rename=dict(args.rename_column))
    report = seed_warehouse(warehouse_url(get_settings(), args.warehouse), options)
    injected = ", ".join(f"{k} {v}" for k, v in report.anomalies.counts.items())
    print(f"seeded {report.warehouse}: flights {report.flights_rows} rows, weather {report.weather_rows} rows")
    print(f"anomalies injected (rate {args.anomaly_rate}, seed {args.seed}): {injected}")
    return 0


def _select_specs(name: str | None):
    from batch_training.defs.project import project_specs

    specs = project_specs(get_settings())  # the spec folder's and the dg pipelines' (components)
    if name is None:
        return specs
    chosen = [s for s in specs if s.name == name]
    if not chosen:
        raise SystemExit(f"no spec named {name!r} (have: {', '.join(s.name for s in specs)})")
    return chosen


def local_runner(specs):
    from batch_training.defs.runner import LocalRunner, local_instance

    settings = get_settings()
    runner = LocalRunner.for_specs(specs, settings, local_instance(settings))
    for run_id in runner.settle():
        print(f"run {run_id}: its process is gone; marked failed and recorded in the failure ledger")
    return runner


def cmd_ingest(args: argparse.Namespace) -> int:
    from batch_training.defs.runner import run_ingest

    settings = get_settings()
    specs = _select_specs(args.spec)
    runner = local_runner(specs)
    ok = True
    for spec in specs:
        first = (args.first_day or spec.source.first_day).isoformat()
        last_day = args.last_day or spec.source.last_day or (dt.date.today() - dt.timedelta(days=1))
        summary = run_ingest(runner, spec, first, last_day.isoformat())
        print_summary(spec.name, first, last_day.isoformat(), summary, settings)
        ok &= summary.success
    return 0 if ok else 1


def _days_line(summary) -> str:
    if not summary.days:
        return "0"
    return ", ".join(f"{asset} {count}" for asset, count in sorted(summary.days.items()))


def print_recorded(recorded: list) -> None:
    """What the failure ledger now holds for a failed run, step by step."""
    from batch_training.operations.planner import days_text

    for step in recorded:
        if not step.entries:
            continue
        run = step.run
        ids = " ".join(str(e.id) for e in step.entries)
        print(f"  ledger: {run.failure_class} failure of {run.asset} for {days_text(e.partition for e in step.entries)} "
              f"recorded as #{ids.replace(' ', ', #')} (`batch-training failures --open`)")
        if run.hint:
            print(f"  what to do: {run.hint}; then `batch-training rekick {ids}`")


def print_summary(name: str, first: str, last: str, summary, settings) -> None:
    from batch_training.defs.summaries import format_checks

    t = summary.totals
    status = "succeeded" if summary.success else "FAILED"
    print(f"\n{name}: ingest {first}..{last} {status} (run {summary.run_id})")
    print(f"  days materialized: {_days_line(summary)}")
    print(f"  rows: raw {t['rows_raw']}, clean {t['rows_clean']}, quarantined {t['rows_quarantined']}, "
          f"repaired {t['rows_repaired']}")
    if summary.reasons:
        top = ", ".join(f"{code} {count}" for code, count in list(summary.reasons.items())[:8])
        print(f"  quarantine reasons: {top}")
    for line in format_checks(summary.checks):
        print(line)
    if summary.failure:
        print(f"  failure: {summary.failure}")
    print_recorded(summary.recorded)
    if summary.continued:
        days: dict[str, int] = {}
        for c in summary.continued:
            for asset, count in c.days.items():
                days[asset] = days.get(asset, 0) + count
        runs = ", ".join(f"{c.run_id} ({'succeeded' if c.success else 'FAILED'})" for c in summary.continued)
        print(f"  the days that passed went on in run(s) {runs}: days materialized: "
              + ", ".join(f"{asset} {count}" for asset, count in sorted(days.items())))
        for c in summary.continued:
            print_recorded(c.recorded)
    print(f"  data: {settings.data_dir / name}")


def cmd_train(args: argparse.Namespace) -> int:
    from batch_training.defs.runner import run_training, training_decision

    specs = [s for s in _select_specs(args.spec) if s.trainable]
    runner = local_runner(specs)
    ok = True
    for spec in specs:
        default = (spec.source.last_day + dt.timedelta(days=1)) if spec.source.last_day else dt.date.today()
        as_of = (args.as_of or default).isoformat()
        decision = training_decision(runner, spec, as_of, force=args.force)
        if not decision.train:
            print(f"\n{spec.name}: not trained as of {as_of}: {decision.reason} (--force trains anyway)")
            print_production(spec.name, runner)
            continue
        summary = run_training(runner, spec, as_of, args.epochs, args.override_reason or "")
        print_training(spec.name, summary)
        ok &= summary.success
    return 0 if ok else 1


def cmd_monitor(args: argparse.Namespace) -> int:
    from batch_training.defs.runner import run_monitor

    specs = [s for s in _select_specs(args.spec) if s.trainable]
    runner = local_runner(specs)
    ok = True
    for spec in specs:
        first, last = args.first_day.isoformat(), (args.last_day or args.first_day).isoformat()
        summary = run_monitor(runner, spec, first, last)
        print(f"\n{spec.name}: monitoring {first}..{last} {'succeeded' if summary.success else 'FAILED'} "
              f"(run {summary.run_id})")
        for day, line in summary.days.items():
            print(f"  {day}  {line}")
        for name, outcome in summary.checks.items():
            print(f"  check {name}: {'passed' if outcome.passed else outcome.severity}: {outcome.summary}")
        if summary.failure:
            print(f"  failure: {summary.failure}")
        ok &= summary.success
    return 0 if ok else 1


def print_production(name: str, runner) -> None:
    """Where the model in production is: what a skipped training leaves serving."""
    from batch_training.registry import Registry
    from batch_training.settings import registry_url
    from batch_training.storage import AsOfArtifacts, PartitionStore

    with Registry(registry_url(runner.settings)) as reg:
        current = reg.production(name)
    if current is None:
        return
    artifacts = AsOfArtifacts.of(PartitionStore(runner.settings.data_dir), name, current.as_of.isoformat())
    print(f"  production model: {current.version}")
    print(f"  bundle: {current.bundle_uri}")
    print(f"  serve it: .venv/bin/batch-training serve --spec {name}   (http://127.0.0.1:8080/predict)")
    print(f"  model: {current.artifact_uri}")
    print(f"  report: {artifacts.report_md}")


def print_training(name: str, s) -> None:
    print(f"\n{name}: train and evaluate as of {s.as_of} {'succeeded' if s.success else 'FAILED'} (run {s.run_id})")
    r = s.report
    if r:
        row = [f"candidate {r.score:.4f}"]
        if r.naive:
            row.append(f"naive {r.naive[r.metric]:.4f}")
        row.append(f"constant {r.constant[r.metric]:.4f}")
        row.append(f"champion {r.champion[r.metric]:.4f}" if r.champion else "champion none")
        print(f"  holdout {r.holdout_days[0]}..{r.holdout_days[1]}, {r.rows} rows; {r.metric}: " + ", ".join(row))
        others = ", ".join(f"{k} {v:.4f}" for k, v in r.candidate.items() if k not in (r.metric, "n"))
        print(f"  candidate also: {others}")
    print(f"  gate: {s.gate}")
    if s.serving:
        record = s.serving
        print(f"  smoke test: {'passed' if record.smoke_passed else 'FAILED'} "
              f"(single p50 {record.smoke_test['single_ms'].get('p50', '?')} ms)")
        print(f"  production model: {record.version}" if s.promoted else f"  candidate {record.version} NOT promoted")
        print(f"  image: {record.image.ref} ({record.image.size_bytes / 2**20:.0f} MB)" if record.image else
              "  image: none built (BATCH_TRAINING_IMAGE_BUILDER=buildah or docker builds one)")
        print(f"  bundle: {record.bundle_path}")
        print(f"  serve it: .venv/bin/batch-training serve --spec {name}   (http://127.0.0.1:8080/predict)")
    if s.model_path:
        print(f"  model: {s.model_path}")
    if s.report_path:
        print(f"  report: {s.report_path}")
    if s.failure:
        print(f"  failure: {s.failure}")
    print_recorded(s.recorded)


def cmd_specs(args: argparse.Namespace) -> int:
    for spec in _select_specs(None):
        days = f"{spec.source.first_day}..{spec.source.last_day or 'open'}"
        print(f"{spec.name}: table {spec.source.table}, {len(spec.columns)} columns, days {days}")
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    """The Dagster UI and daemon on the local instance (SQLite under BATCH_TRAINING_HOME)."""
    import os
    import shutil
    from pathlib import Path

    from batch_training.defs.runner import local_instance

    local_instance(get_settings())  # creates DAGSTER_HOME and its dagster.yaml when missing
    beside = Path(sys.executable).parent / "dagster"  # the venv's, even when its bin/ is not on PATH
    dagster = str(beside) if beside.exists() else (shutil.which("dagster") or "dagster")
    argv = [dagster, "dev", "-m", "batch_training.definitions", "-h", args.host, "-p", str(args.port)]
    print(f"Dagster UI on http://{args.host}:{args.port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})", flush=True)
    os.execvp(argv[0], argv)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """The production-shaped stack on this machine: PostgreSQL, Dagster webserver and daemon."""
    from batch_training.sample.seed import SeedOptions
    from batch_training.stack import control

    seed = SeedOptions(first_day=args.seed_first_day, last_day=args.seed_last_day)
    try:
        control.up(port=args.port, seed=seed, timeout=args.timeout)
    except control.StackError as exc:
        print(f"batch-training up: error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    """Stop what `up` started (and nothing else)."""
    from batch_training.stack import control

    try:
        control.down()
    except control.StackError as exc:
        print(f"batch-training down: error: {exc}", file=sys.stderr)
        return 2
    return 0
