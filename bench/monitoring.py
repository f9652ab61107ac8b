"""Monitoring on the 2013 flagship: a model trained as of 2013-06-01 (the spec's own settings, one
seed) is left in production to the year's end. Each day from June to December: its drift against
the model's reference profile (timed per day: the day's rows as training sees them, then the
drift), and its live MAE as served (the bundle through the server's own code and ONNX Runtime)
beside the offline holdout MAE and the naive rule on the same rows. Prints the month by month
series and the first day the live-error check (``monitoring.live_error_ratio_warn`` for
``live_warn_days`` days) would have warned. Core only: no Dagster.

    python -m bench.monitoring
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from batch_training.candidate import fit_candidate
from batch_training.evaluation.baselines import naive_rule_prediction
from batch_training.features import window_for
from batch_training.features.columns import request_rows
from batch_training.features.dataset import JoinedDays, LoadedDataset, build_training_data, day_rows, describe
from batch_training.monitoring import as_scores, build_profile, drift, live_performance, score_day
from batch_training.monitoring.drift import day_level_features
from batch_training.serving import build_bundle
from batch_training.serving.local import ServedBundle
from batch_training.spec import load_specs
from batch_training.training import save_checkpoint
from bench.measure import say
from bench.train import _floats, cleansed_days

AS_OF = dt.date(2013, 6, 1)
LAST = dt.date(2013, 12, 31)


def measure() -> dict:
    spec = load_specs()[0]
    days, joined = cleansed_days(spec)
    empty = {name: next(iter(d.values())).schema.empty_table() for name, d in joined.items()}
    joined_days = JoinedDays(lambda j, d: joined[j].get(d, empty[j]), lambda j, d: d.isoformat())
    built = build_training_data(spec, window_for(AS_OF, spec.split, spec.source.first_day), days.__getitem__,
                                lambda d: d.isoformat(), joined_days)
    data = LoadedDataset(built.train, built.holdout, built.preprocessor, describe(built))
    say(f"monitoring: training the model as of {AS_OF}")
    outcome = fit_candidate(data, spec.model, lineage={"bench": "monitoring"}, device="cpu")
    m = spec.monitoring
    profile = build_profile(data.train, spec.features.numeric, spec.features.categorical, m.bins, m.top_categories)
    rule = spec.evaluation.naive
    with tempfile.TemporaryDirectory(prefix="bench-monitoring-") as tmp:
        ckpt = Path(tmp) / "model.pt"
        save_checkpoint(ckpt, outcome.checkpoint)
        served = ServedBundle(build_bundle(ckpt, spec, "bench-monitoring", Path(tmp) / "bundle").path)
        held = data.holdout  # the holdout MAE as served (the registry's figure, to 1e-4)
        offline = float(np.mean(np.abs(np.asarray(served.predict(request_rows(spec, held)))
                                       - _floats(held, spec.target))))
        series, drift_ms, levels = [], [], {}
        day = AS_OF
        not_judged = day_level_features(spec)
        while day <= LAST:
            if day in days:
                start = time.perf_counter()
                rows = day_rows(spec, day, days.__getitem__, joined_days)
                report = drift(profile, rows, m, not_judged)
                drift_ms.append((time.perf_counter() - start) * 1000)
                levels[day.isoformat()] = {"level": report.level, "top": [f.name for f in report.top(8) if f.judged][:3],
                                           "error_features": [f.name for f in report.features if f.level == "ERROR"]}
                labelled = rows.filter(pc.is_valid(rows.column(spec.target)))
                y = _floats(labelled, spec.target)
                scores = as_scores(spec.task, served.predict(request_rows(spec, labelled)), [])
                naive = naive_rule_prediction(rule, _floats(data.train, rule.feature), _floats(data.train, spec.target),
                                              _floats(labelled, rule.feature)) if rule else None
                live = score_day(spec.task, "mae", y, scores, naive)
                series.append((day, live.live_error, live.naive_error, live.rows))
            day += dt.timedelta(days=1)
    judged = live_performance([(d, e, offline) for d, e, _, _ in series], m.live_error_ratio_warn, m.live_warn_days)
    first_warn = next((j.day.isoformat() for j in judged if j.warn), None)
    months: dict[str, dict] = {}
    for (d, live, naive, rows), j in zip(series, judged):
        month = months.setdefault(d.strftime("%Y-%m"), {"live": [], "naive": [], "rows": 0, "bad_days": 0, "warn_days": 0})
        if live is not None:
            month["live"].append(live)
            month["naive"].append(naive)
        month["rows"] += rows
        month["bad_days"] += j.bad
        month["warn_days"] += j.warn
    table = {k: {"live_mae": statistics.fmean(v["live"]), "naive_mae": statistics.fmean(v["naive"]),
                 "ratio_to_offline": statistics.fmean(v["live"]) / offline, "rows": v["rows"],
                 "bad_days": v["bad_days"], "warn_days": v["warn_days"]} for k, v in months.items()}
    counts = {lvl: sum(1 for v in levels.values() if v["level"] == lvl) for lvl in ("OK", "WARN", "ERROR")}
    by_feature = Counter(name for v in levels.values() for name in v["error_features"])
    return {"as_of": AS_OF.isoformat(), "last_day": LAST.isoformat(), "offline_mae": offline,
            "ratio_warn": m.live_error_ratio_warn, "warn_days": m.live_warn_days, "first_warn_day": first_warn,
            "months": table, "drift_ms_per_day": {"median": statistics.median(drift_ms), "max": max(drift_ms),
                                                  "days": len(drift_ms)},
            "drift_levels": counts, "drift_error_features": dict(by_feature.most_common()),
            "drift_error_days": [d for d, v in levels.items() if v["level"] == "ERROR"][:20],
            "series": [{"day": d.isoformat(), "live_mae": live, "naive_mae": naive, "rows": rows}
                       for d, live, naive, rows in series]}


def report(r: dict) -> None:
    print(f"\nMonitoring: the flagship trained as of {r['as_of']} left in production to {r['last_day']} "
          f"(offline holdout MAE {r['offline_mae']:.3f}; the check warns after {r['warn_days']} days above "
          f"{r['ratio_warn']:g} x offline)")
    print(f"  {'month':<8} {'live MAE':>9} {'x offline':>10} {'naive MAE':>10} {'rows':>7} {'bad days':>9} {'warn days':>10}")
    for month, v in r["months"].items():
        print(f"  {month:<8} {v['live_mae']:>9.3f} {v['ratio_to_offline']:>10.2f} {v['naive_mae']:>10.3f} "
              f"{v['rows']:>7} {v['bad_days']:>9} {v['warn_days']:>10}")
    print(f"  first day the live-error check would have warned: {r['first_warn_day'] or 'never'}")
    d = r["drift_ms_per_day"]
    print(f"  drift check: {d['median']:.1f} ms per day (median of {d['days']}; max {d['max']:.1f} ms), the day's rows "
          f"as training sees them included; levels {r['drift_levels']}")
    print(f"  days each feature was at ERROR: {r['drift_error_features']}")
    if r["drift_error_days"]:
        print(f"  drift ERROR days (first 20): {', '.join(r['drift_error_days'])}")


def main() -> dict:
    result = measure()
    report(result)
    return result


if __name__ == "__main__":
    main()
