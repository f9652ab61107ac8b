"""The daily increment as the schedule runs it, on the embedded default: ingest one new day, then
train, evaluate, bundle and promote as of the next day; timed end to end and per step.

Set-up, not timed: a fresh home, ``batch-training seed``, the year up to two days before the as-of
day ingested in one run, and a model trained as of the day before (promoted when its gate passes, so
usually a champion is in production, as on an ordinary day). Then, timed from outside as subprocesses (start-up included):
``batch-training ingest`` of the one new day and ``batch-training train --as-of`` the next day.
Each run's steps are read back from the Dagster instance, so the print shows where the time goes.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

from bench.backfill import _cli, _env, _run
from bench.measure import figure, say
from bench.report import print_increment

AS_OF = dt.date(2014, 1, 1)  # the day make run trains as of


def _steps(env: dict) -> dict:
    _, stats = _run([sys.executable, "-m", "bench.child", "runstats"], env)
    return json.loads(stats.stdout.strip().splitlines()[-1]) if stats.returncode == 0 else {"error": stats.stderr[-300:]}


def _checked(name: str, seconds: float, proc, env: dict) -> dict:
    if proc.returncode:
        raise RuntimeError(f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return {"wall": figure(seconds, "s"), "run": _steps(env)}


def measure(as_of: dt.date = AS_OF) -> dict:
    new_day, yesterday = as_of - dt.timedelta(days=1), as_of - dt.timedelta(days=2)
    with tempfile.TemporaryDirectory(prefix="bench-increment-") as tmp:
        env = _env(Path(tmp), event_env=True)
        cli = _cli()
        say("increment: set-up (seed, ingest to the day before, train as of the day before)")
        for argv in (["seed"], ["ingest", "--spec", "flights_delay", "--first-day", "2013-01-01", "--last-day", str(yesterday)],
                     ["train", "--spec", "flights_delay", "--as-of", str(new_day)]):
            seconds, proc = _run(cli + argv, env)
            if proc.returncode and not (argv[0] == "train" and "gate: FAILED" in proc.stdout):  # a rejected model is a day like any
                raise RuntimeError(f"set-up {argv[0]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
            say(f"increment: set-up {argv[0]} {seconds:.1f} s")
        seconds, proc = _run(cli + ["ingest", "--spec", "flights_delay", "--first-day", str(new_day),
                                    "--last-day", str(new_day)], env)
        ingest = _checked("ingest of the new day", seconds, proc, env)
        say(f"increment: ingest {new_day} {seconds:.1f} s; train as of {as_of}")
        seconds, proc = _run(cli + ["train", "--spec", "flights_delay", "--as-of", str(as_of)], env)
        train = _checked("train", seconds, proc, env)
        say(f"increment: train/evaluate/bundle/promote {seconds:.1f} s")
        total = _wall(ingest) + _wall(train)
        return {"as_of": str(as_of), "new_day": str(new_day), "ingest": ingest, "train": train,
                "total": figure(total, "s"), "promoted": "production model:" in proc.stdout,
                "train_output": proc.stdout.strip().splitlines()[-10:]}


def _wall(part: dict) -> float:
    return part["wall"]["value"]


def main() -> dict:
    """The increment alone (``python -m bench.increment``), printed as ``make bench`` prints it."""
    result = measure()
    print_increment(result)
    return result


if __name__ == "__main__":
    main()
