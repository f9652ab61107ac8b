"""``batch-training`` commands for the registry, the prediction server and the failure ledger."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from batch_training.settings import get_settings, registry_url


def _registry_url() -> str:
    return registry_url(get_settings())


def _registry():
    from batch_training.registry import Registry

    return Registry(_registry_url())


def cmd_models(args: argparse.Namespace) -> int:
    from batch_training.cli.tables import format_history, format_versions

    registry = _registry()
    print(format_versions(registry.versions(args.spec)))
    if args.history:
        print()
        print(format_history(registry.history(args.spec)))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    entry = _registry().rollback(args.spec, args.to, args.reason)
    print(f"{args.spec}: production is now {entry.version} ({args.reason})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the prediction server of a registered model's bundle (default: the production model)."""
    registry = _registry()
    entry = registry.get(args.spec, args.version) if args.version else registry.production(args.spec)
    if entry is None or not entry.bundle_uri:
        raise ValueError(f"no {'version ' + args.version if args.version else 'production model'} with a bundle for {args.spec}")
    bundle = Path(entry.bundle_uri)
    print(f"serving {args.spec} {entry.version} from {bundle} on http://{args.host}:{args.port}", flush=True)
    argv = [sys.executable, "-m", "server", "--bundle", str(bundle), "--host", args.host, "--port", str(args.port)]
    os.chdir(bundle)
    os.execv(argv[0], argv)
    return 0


def cmd_failures(args: argparse.Namespace) -> int:
    from batch_training.cli.pipeline import local_runner
    from batch_training.cli.tables import format_failures
    from batch_training.operations.ledger import Ledger
    from batch_training.spec import load_specs

    local_runner(load_specs(get_settings().spec_dir))  # failed runs not yet recorded are recorded first
    with Ledger(_registry_url()) as book:
        print(format_failures(book.list(spec=args.spec, status=("open", "rekicked") if args.open else None)))
    return 0


def cmd_rekick(args: argparse.Namespace) -> int:
    from batch_training.cli.pipeline import local_runner
    from batch_training.defs.rekick import rekick
    from batch_training.operations.ledger import Ledger
    from batch_training.spec import load_specs

    if bool(args.all) == bool(args.ids):
        raise ValueError("give ledger entry ids or --all (not both)")
    runner = local_runner(load_specs(get_settings().spec_dir))
    with Ledger(_registry_url()) as book:
        ids = [e.id for e in book.list(status=("open", "rekicked"))] if args.all else args.ids
    if not ids:
        print("nothing to rekick")
        return 0
    from batch_training.defs.automation.observations import backfill_url

    done = rekick(runner, ids)
    ui = get_settings().ui_url.rstrip("/")
    for backfill in done:
        entries = " ".join(map(str, backfill.ledger_ids))
        if backfill.success is None:
            print(f"backfill {backfill.backfill_id} for ledger entries {entries}: submitted to the daemon "
                  f"({backfill_url(ui, backfill.backfill_id)})")
            continue
        runs = ", ".join(f"{r.run_id} {'succeeded' if r.success else 'FAILED'}" for r in backfill.results)
        print(f"backfill {backfill.backfill_id} for ledger entries {entries}: {backfill.status} in "
              f"{len(backfill.results)} run(s): {runs}")
    print(f"rekicked {len(ids)} ledger entr{'y' if len(ids) == 1 else 'ies'} in {len(done)} backfill(s)")
    return 0 if all(b.success is not False for b in done) else 1


def cmd_ignore(args: argparse.Namespace) -> int:
    from batch_training.cli.pipeline import local_runner
    from batch_training.spec import load_specs

    runner = local_runner(load_specs(get_settings().spec_dir))
    with runner.ledger() as book:  # the partition shows it ignored too
        entry = book.ignore(args.id, args.reason)
    print(f"ledger entry {entry.id} ignored: {entry.reason}")
    return 0


def add_registry_commands(sub) -> None:
    models = sub.add_parser("models", help="list the registered model versions of a spec")
    models.add_argument("spec")
    models.add_argument("--history", action="store_true", help="also print the promotion history")
    models.set_defaults(func=cmd_models)

    rollback = sub.add_parser("rollback", help="re-point production to an earlier model version")
    rollback.add_argument("spec")
    rollback.add_argument("--to", help="the version (default: the one in production before the current one)")
    rollback.add_argument("--reason", required=True, help="why (recorded in the promotion history)")
    rollback.set_defaults(func=cmd_rollback)

    serve = sub.add_parser("serve", help="run the prediction server of a registered model (default: production)")
    serve.add_argument("--spec", default="flights_delay")
    serve.add_argument("--version", help="a registered version (default: the production model)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(func=cmd_serve)

    failures = sub.add_parser("failures", help="list the failure ledger")
    failures.add_argument("--open", action="store_true", help="only open and rekicked entries")
    failures.add_argument("--spec")
    failures.set_defaults(func=cmd_failures)

    rekick = sub.add_parser("rekick", help="relaunch failed partitions as backfills (through the daemon when one "
                                           "runs, else in this process) and resolve them on success")
    rekick.add_argument("ids", nargs="*", type=int, default=[], help="ledger entry ids")
    rekick.add_argument("--all", action="store_true", help="every open entry (instead of ids)")
    rekick.set_defaults(func=cmd_rekick)

    ignore = sub.add_parser("ignore", help="close a ledger entry without a rerun, with a reason")
    ignore.add_argument("id", type=int)
    ignore.add_argument("--reason", required=True)
    ignore.set_defaults(func=cmd_ignore)
