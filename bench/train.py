"""The flights model in a backtest over 2013: as of each of several days, trained on the 365 days
before it with the last 31 held out, and evaluated on those 31 days. For each: our model's MAE beside
LightGBM's (L1 objective, same features) and the naive baseline's, and whether our gate passes. As of
2014-01-01 (December held out) also the training wall time and the training loop's samples/s beside a
naive DataLoader loop (bench.training_loop).

    python -m bench.train
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pyarrow as pa

from batch_training.cleansing import cleanse
from batch_training.cleansing.order import canonical_order
from batch_training.features import window_for
from batch_training.features.dataset import LoadedDataset, build_training_data, describe
from batch_training.modeling import Predictor, fit_candidate
from batch_training.modeling.evaluate import evaluate
from batch_training.sample.anomalies import inject
from batch_training.sample.flights import load_flights
from batch_training.spec import load_specs
from batch_training.warehouse.extract import split_by_day

AS_OF = dt.date(2014, 1, 1)
BACKTEST = [dt.date(2013, 6, 1), dt.date(2013, 8, 1), dt.date(2013, 10, 1), dt.date(2013, 12, 1), AS_OF]


def cleansed_days(spec) -> dict[dt.date, pa.Table]:
    """The sample DWH's year (default anomaly rate and seed), cleansed day by day and sorted as the
    pipeline writes it."""
    flights, _ = inject(load_flights(), rate=0.01, seed=13)
    by_day = split_by_day(flights, spec.source.partition_column, spec.source.timezone)
    return {dt.date.fromisoformat(day): canonical_order(cleanse(table, spec).clean) for day, table in by_day.items()}


def lightgbm_mae(spec, data: LoadedDataset) -> tuple[float, float]:
    import lightgbm as lgb

    pre = data.preprocessor

    def matrix(table: pa.Table) -> np.ndarray:
        numeric = [table.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False) for c in spec.features.numeric]
        _, cats = pre.encode_features(table)
        return np.column_stack(numeric + [cats[:, i].astype(np.float64) for i in range(cats.shape[1])])

    n_num = len(spec.features.numeric)
    cat_idx = list(range(n_num, n_num + len(spec.features.categorical)))
    y = data.train.column(spec.target).cast(pa.float64()).to_numpy(zero_copy_only=False)
    start = time.perf_counter()
    model = lgb.train({"objective": "l1", "learning_rate": 0.1, "num_leaves": 63, "min_data_in_leaf": 50,
                       "verbose": -1, "num_threads": 2, "seed": 13},
                      lgb.Dataset(matrix(data.train), y, categorical_feature=cat_idx), num_boost_round=300)
    seconds = time.perf_counter() - start
    pred = model.predict(matrix(data.holdout))
    truth = data.holdout.column(spec.target).cast(pa.float64()).to_numpy(zero_copy_only=False)
    return float(np.mean(np.abs(pred - truth))), seconds


def measure_as_of(spec, days: dict[dt.date, pa.Table], as_of: dt.date) -> dict:
    window = window_for(as_of, spec.split, spec.source.first_day)
    built = build_training_data(spec, window, read_day=days.__getitem__, day_fingerprint=lambda d: d.isoformat())
    data = LoadedDataset(built.train, built.holdout, built.preprocessor, describe(built))
    start = time.perf_counter()
    outcome = fit_candidate(data, spec.model, lineage={"bench": True}, device="cpu")
    train_seconds = time.perf_counter() - start
    report, _, decision = evaluate(spec, data, Predictor(outcome.checkpoint))
    lgb_mae, lgb_seconds = lightgbm_mae(spec, data)
    epochs = len(outcome.result.history)
    ours, naive = report["candidate"]["mae"], report["baselines"]["naive"]["mae"]
    return {
        "rows_train": data.train.num_rows, "rows_holdout": data.holdout.num_rows, "epochs": epochs,
        "best_epoch": outcome.result.best_epoch, "ours_mae": ours, "lightgbm_mae": lgb_mae, "naive_mae": naive,
        "ours_vs_lightgbm": ours / lgb_mae, "ours_vs_naive": ours / naive, "lightgbm_vs_naive": lgb_mae / naive,
        "train_seconds": train_seconds, "train_samples_per_s": data.train.num_rows * epochs / train_seconds,
        "lightgbm_seconds": lgb_seconds, "gate_passed": decision.passed,
    }


def measure() -> dict:
    spec = load_specs()[0]
    days = cleansed_days(spec)
    backtest = {}
    for as_of in BACKTEST:
        backtest[as_of.isoformat()] = row = measure_as_of(spec, days, as_of)
        print(f"  as of {as_of}: MAE ours {row['ours_mae']:.3f}  LightGBM {row['lightgbm_mae']:.3f}  naive "
              f"{row['naive_mae']:.3f}  -> ours/naive {row['ours_vs_naive']:.3f}, ours/LightGBM "
              f"{row['ours_vs_lightgbm']:.3f}, LightGBM/naive {row['lightgbm_vs_naive']:.3f}; "
              f"gate {'passed' if row['gate_passed'] else 'REJECTS'} (best epoch {row['best_epoch']} of {row['epochs']})",
              flush=True)
    return {**backtest[AS_OF.isoformat()], "backtest": backtest}


def main() -> dict:
    from bench import training_loop

    print("flights backtest: as of each day, the 365 days before it, the last 31 held out and evaluated")
    result = measure()
    print(f"as of {AS_OF}: {result['rows_train']} training rows, {result['rows_holdout']} holdout rows")
    print(f"  MAE ours {result['ours_mae']:.3f}  LightGBM (L1, same features) {result['lightgbm_mae']:.3f}  "
          f"naive {result['naive_mae']:.3f}  -> ours/LightGBM {result['ours_vs_lightgbm']:.3f} (target <= 1.000)")
    print(f"  training wall time {result['train_seconds']:.1f} s for {result['epochs']} epochs "
          f"({result['train_samples_per_s']:,.0f} samples/s; target <= 60 s); LightGBM {result['lightgbm_seconds']:.1f} s")
    loop = training_loop.measure()
    result["loop"] = loop
    print(f"  training loop vs DataLoader(TensorDataset): {loop}")
    return result


if __name__ == "__main__":
    main()
